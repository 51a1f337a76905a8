"""Validation scores of a long run's parts and the checkpoint each selection criterion would keep.

    python scripts/selection_table.py runs/00000-sketch2face-long runs/00001-sketch2face-long ...

Reads each part's metrics.jsonl (in the order given; steps and minutes count on from the earlier parts)
and prints a markdown table of every validation, then, for each criterion ``train.keep`` offers (and
identity rank-1 alone), the step it would keep. docs/experiments.md quotes the output.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from sketch2face.config import KEEP_CRITERIA
from sketch2face.train import selection_score

COLUMNS = [("val_ssim", "SSIM", 4), ("val_psnr", "PSNR", 2), ("val_kid", "KID", 4), ("val_rank1", "rank-1", 3),
           ("val_face_found", "face found", 3)]


def read_parts(run_dirs: list[Path]) -> list[dict]:
    rows, step_offset, minute_offset = [], 0, 0.0
    for part, run_dir in enumerate(run_dirs, start=1):
        records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line]
        for record in records:
            rows.append({**record, "part": part, "total_step": step_offset + record["step"],
                         "total_minutes": round(minute_offset + record["minutes"], 1)})
        if records:
            step_offset += records[-1]["step"]
            minute_offset += records[-1]["minutes"]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dirs", nargs="+", type=Path)
    args = parser.parse_args()
    rows = read_parts(args.run_dirs)
    if not rows:
        raise SystemExit("no validation records in " + ", ".join(map(str, args.run_dirs)))
    present = [(key, title, digits) for key, title, digits in COLUMNS if key in rows[0]]
    print("| part | step (all parts) | minutes (all parts) | " + " | ".join(t for _, t, _ in present) + " |")
    print("|---" * (3 + len(present)) + "|")
    for row in rows:
        values = " | ".join(f"{row[key]:.{digits}f}" for key, _, digits in present)
        print(f"| {row['part']} | {row['total_step']} | {row['total_minutes']} | {values} |")
    print()
    for keep in [*KEEP_CRITERIA, "best_rank1"]:
        if keep == "last":
            kept = rows[-1]
        else:
            score = (lambda row: row.get("val_rank1")) if keep == "best_rank1" else \
                (lambda row, keep=keep: selection_score(row, keep))
            scored = [row for row in rows if score(row) is not None]
            if not scored:
                continue
            kept = max(scored, key=score)
        print(f"- {keep}: part {kept['part']}, step {kept['total_step']}")

if __name__ == "__main__":
    main()
