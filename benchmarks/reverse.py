"""Photo -> sketch on CUFS test: a trained reverse model against the procedural styles.

    python benchmarks/reverse.py [--model photo2sketch-cufs] [--output docs/results/reverse]

Each of the 338 CUFS test photos becomes a sketch (cropped back to the photo's 200x250 frame) and is
compared with the artist's sketch in greyscale: FSIM (reference MATLAB definition), SSIM (Gaussian
11x11, sigma 1.5), PSNR and Pearson R, all on [0, 1] floats at 200x250. Rows: the model, and the
procedural `line`, `pen` and `hed` styles of `sketch2face sketchify` (no learning) for scale.
Prints a Markdown table; writes reverse.md and a sheet of examples to --output.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from sketch2face.data.sketch import synthesize_sketch
from sketch2face.data.transforms import load_image, to_grayscale, to_rgb
from sketch2face.evaluate import resolve_eval_set
from sketch2face.fsim import fsim
from sketch2face.metrics import pearson_r, psnr, ssim
from sketch2face.pipeline import PhotoToSketchPipeline


def scores(generated: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    a = torch.from_numpy(generated.astype(np.float64) / 255)[None, None]
    b = torch.from_numpy(truth.astype(np.float64) / 255)[None, None]
    return {"fsim": fsim(truth, generated)[0], "ssim": float(ssim(a, b)), "psnr": float(psnr(a, b)),
            "r": float(pearson_r(a, b))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="photo2sketch-cufs")
    parser.add_argument("--output", type=Path, default=Path("docs/results/reverse"))
    args = parser.parse_args()
    evalset = resolve_eval_set("cufs-test")
    photos = [to_rgb(load_image(p)) for p in evalset.photos]
    truths = [to_grayscale(load_image(p)) for p in evalset.sketches]
    pipe = PhotoToSketchPipeline(args.model)
    systems = {}
    began = time.perf_counter()
    systems[f"{args.model} ({pipe.backend_name})"] = [np.asarray(pipe(p, keep_size=True)) for p in photos]
    model_ms = 1000 * (time.perf_counter() - began) / len(photos)
    for style in ("line", "pen", "hed"):
        systems[f"procedural `{style}`"] = [synthesize_sketch(p, style) for p in photos]
    lines = ["| system | n | FSIM | SSIM | PSNR | R |", "|---|---|---|---|---|---|"]
    for label, outputs in systems.items():
        rows = [scores(g, t) for g, t in zip(outputs, truths)]
        mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
        lines.append(f"| {label} | {len(rows)} | {mean['fsim']:.4f} | {mean['ssim']:.4f} | {mean['psnr']:.2f} | "
                     f"{mean['r']:.4f} |")
    table = "\n".join(lines)
    print(table)
    print(f"model: {model_ms:.1f} ms per photo including pre/post-processing")
    args.output.mkdir(parents=True, exist_ok=True)
    picks = [0, 120, 250]
    grid = [np.concatenate([photos[i].mean(2).astype(np.uint8), systems[next(iter(systems))][i], truths[i]], axis=1)
            for i in picks]
    Image.fromarray(np.concatenate(grid, axis=0)).save(args.output / "examples.png")
    (args.output / "reverse.md").write_text(
        f"CUFS test photos -> sketches, compared with the artists' sketches (n = {len(photos)}).\n"
        f"Command: `python benchmarks/reverse.py --model {args.model}`\n\n{table}\n\n"
        f"Model time: {model_ms:.1f} ms per photo (2 cores, pre/post-processing included).\n")


if __name__ == "__main__":
    main()
