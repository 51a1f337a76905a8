"""Missing-part repair: CUFS test sketches with the eyes, the nose or the mouth erased.

    python benchmarks/repair.py [--models sketch2face-v1 sketch2face-repair] [--output docs/results/repair]

Each of the 338 CUFS test sketches is padded to a square, resized to 256x256 (the frame the
canonical landmarks describe), the region is blanked to paper with `erase_region` (the same
function training uses, here without jitter) and the sketch cropped back to its 200x250 frame.
Every model then turns the intact and each damaged set into faces, scored against the true photos
with `sketch2face.evaluate` (FSIM, SSIM, identity rank-1 among the 338 test photos; no FID).
Prints a Markdown table and writes repair.json / repair.md to --output.
"""
from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from sketch2face.data.augment import erase_region, facial_regions
from sketch2face.data.transforms import crop_to_frame, load_image, pad_to_square, resize, to_grayscale
from sketch2face.evaluate import evaluate, generate_with_pipeline, resolve_eval_set
from sketch2face.pipeline import SketchToFacePipeline

REGIONS = {"intact": [], "eyes": ["left_eye", "right_eye"], "nose": ["nose"], "mouth": ["mouth"]}


def damage(path: Path, names: list[str]) -> np.ndarray:
    grey = to_grayscale(load_image(path))
    # erase in the canonical 256x256 frame that facial_regions describes (the damage, not the model's
    # input: the pipeline prepares the damaged sketch itself)
    square, frame = pad_to_square(grey, fill=255)
    square = resize(square, (256, 256))
    boxes = facial_regions(256)
    for name in names:
        square = erase_region(square, boxes[name])
    return crop_to_frame(square, frame)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["sketch2face-v1", "sketch2face-repair"])
    parser.add_argument("--output", type=Path, default=Path("docs/results/repair"))
    args = parser.parse_args()
    base = resolve_eval_set("cufs-test")
    pipes = [SketchToFacePipeline(m) for m in args.models]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for region, names in REGIONS.items():
            folder = Path(tmp) / region
            folder.mkdir()
            sketches = []
            for path in base.sketches:
                target = folder / f"{path.stem}.png"
                Image.fromarray(damage(path, names)).save(target)
                sketches.append(target)
            evalset = replace(base, sketches=sketches, groups={"all": base.groups["all"]})
            if region == "eyes":
                Image.fromarray(np.concatenate([damage(base.sketches[i], n) for i, n in
                                                [(0, []), (0, REGIONS["eyes"]), (0, ["nose"]), (0, ["mouth"])]],
                                               axis=1)).save(Path(tmp) / "examples.png")
            systems = [lambda pipe=pipe: generate_with_pipeline(pipe, evalset, 8, False) for pipe in pipes]
            report = evaluate(evalset, systems, Path(tmp) / f"eval-{region}", with_fid=False, progress=False)
            for label, groups in report["systems"].items():
                scores = groups["all"]
                rows.append({"erased": region, "model": label, "fsim": scores["fsim"], "ssim": scores["ssim"],
                             "rank1": scores["rank1"], "rank5": scores["rank5"]})
                print(f"{region:7s} {label:22s} FSIM {scores['fsim']:.4f} SSIM {scores['ssim']:.4f} "
                      f"rank-1 {100 * scores['rank1']:.1f}%", flush=True)
        args.output.mkdir(parents=True, exist_ok=True)
        Image.open(Path(tmp) / "examples.png").save(args.output / "damaged_examples.png")
    lines = ["| erased | model | FSIM | SSIM | rank-1 | rank-5 |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['erased']} | {r['model']} | {r['fsim']:.4f} | {r['ssim']:.4f} | {100 * r['rank1']:.1f}% | "
              f"{100 * r['rank5']:.1f}% |" for r in rows]
    table = "\n".join(lines)
    print(table)
    (args.output / "repair.json").write_text(json.dumps(rows, indent=2) + "\n")
    (args.output / "repair.md").write_text(
        f"CUFS test (n = {len(base.names)}), regions erased as in `benchmarks/repair.py`.\n"
        f"Command: `python benchmarks/repair.py --models {' '.join(args.models)}`\n\n{table}\n")


if __name__ == "__main__":
    main()
