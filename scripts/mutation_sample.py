"""Mutation score of issue 19's six files on a random sample of their mutants.

All 2,442 mutants take 3 to 7 CPU-hours on 2 cores; a seeded sample of the same number from each
file gives each file's kill share to within about +-12 points (95 %, 50 mutants) and the total to
within about +-5 in under an hour. mutmut keeps every verdict in ``mutants/*.meta``, so the report
also works after an interrupted run.

    mutmut run sketch2face.metrics.x_psnr__mutmut_1  # once: any run first writes every mutant to mutants/
    mutmut run --max-children 2 $(python scripts/mutation_sample.py --per-file 50 --names)
    python scripts/mutation_sample.py --per-file 50        # the table for docs/testing.md
"""
from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from mutmut.stats import status_by_exit_code

COLUMNS = ("killed", "survived", "no tests", "timeout")


def mutants_by_file(root: Path) -> dict[str, dict[str, int | None]]:
    """Each mutated file's mutants and their verdicts (None: not run yet)."""
    found = {}
    for meta in sorted(root.glob("src/**/*.py.meta")):
        name = str(meta.relative_to(root / "src")).removesuffix(".meta")
        found[name] = json.loads(meta.read_text())["exit_code_by_key"]
    if not found:
        raise SystemExit(f"no mutants under {root}/src: run `mutmut run sketch2face.metrics.x_psnr__mutmut_1` "
                         "first (any run writes every mutant)")
    return found


def sample(verdicts: dict[str, int | None], per_file: int, seed: int) -> list[str]:
    names = sorted(verdicts)
    return sorted(random.Random(seed).sample(names, min(per_file, len(names))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-file", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mutants", type=Path, default=Path("mutants"))
    parser.add_argument("--names", action="store_true", help="print the sampled mutant names, for mutmut run")
    parser.add_argument("--survivors", action="store_true", help="list the sampled mutants that survived")
    args = parser.parse_args()
    files = mutants_by_file(args.mutants)
    picked = {file: sample(verdicts, args.per_file, args.seed) for file, verdicts in files.items()}
    if args.names:
        print("\n".join(name for names in picked.values() for name in names))
        return
    print("| file | mutants | sampled | run | " + " | ".join(COLUMNS) + " | killed share |")
    print("|---|---|---|---|---|---|---|---|---|")
    totals = [0] * (3 + len(COLUMNS))
    for file, names in picked.items():
        statuses = [status_by_exit_code[files[file][name]] for name in names]
        done = [s for s in statuses if s != "not checked"]
        row = [len(files[file]), len(names), len(done), *(done.count(column) for column in COLUMNS)]
        totals = [t + r for t, r in zip(totals, row)]
        share = f"{row[3] / row[2]:.1%}" if row[2] else "-"
        print(f"| {file} | " + " | ".join(map(str, row)) + f" | {share} |")
    share = f"{totals[3] / totals[2]:.1%}" if totals[2] else "-"
    print("| all | " + " | ".join(map(str, totals)) + f" | {share} |")
    if args.survivors:
        for file, names in picked.items():
            for name in names:
                if status_by_exit_code[files[file][name]] in ("survived", "no tests"):
                    print(name, status_by_exit_code[files[file][name]])


if __name__ == "__main__":
    main()
