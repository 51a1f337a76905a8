"""Photo -> sketch: trained reverse models against the procedural styles, on CUFS test and FS2K validation.

    python benchmarks/reverse.py [--models photo2sketch-v1 baselines/photo2sketch-cufs] [--fs2k cache/fs2k-v2]
                                 [--output docs/results/reverse]

CUFS test: each of the 338 photos becomes a sketch (cropped back to the photo's 200x250 frame) and
is compared with the artist's sketch in greyscale. FS2K validation: the pairs of a prepared FS2K
folder that training holds out (8 % by identity, as `sketch2face train` splits), scored per FS2K
style. A style-conditioned model is asked for the matching style (`cufs` on CUFS, `fs2k-styleK` on
FS2K style K) and, on FS2K, also for `cufs` to show what the conditioning changes. Metrics: FSIM
(reference MATLAB definition), SSIM (Gaussian 11x11, sigma 1.5), PSNR and Pearson R on [0, 1]
floats. Procedural `line`, `pen`, `xdog` and `hed` (no learning) for scale.
Prints Markdown tables; writes reverse.md and examples.png to --output.
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

PROCEDURAL = ("line", "pen", "xdog", "hed")


def scores(generated: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    a = torch.from_numpy(generated.astype(np.float64) / 255)[None, None]
    b = torch.from_numpy(truth.astype(np.float64) / 255)[None, None]
    return {"fsim": fsim(truth, generated)[0], "ssim": float(ssim(a, b)), "psnr": float(psnr(a, b)),
            "r": float(pearson_r(a, b))}


def table_rows(label: str, outputs: list[np.ndarray], truths: list[np.ndarray], subset: str = "") -> str:
    rows = [scores(g, t) for g, t in zip(outputs, truths)]
    mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
    lead = f"| {subset} " if subset else ""
    return (f"{lead}| {label} | {len(rows)} | {mean['fsim']:.4f} | {mean['ssim']:.4f} | {mean['psnr']:.2f} | "
            f"{mean['r']:.4f} |")


def system_label(pipe: PhotoToSketchPipeline, style: str | None) -> str:
    return pipe.model_name + (f" (style `{style}`)" if style else "")


def procedural_rows(photos: list[np.ndarray], truths: list[np.ndarray], subset: str = "") -> list[str]:
    rows = [table_rows(f"procedural `{style}`", [synthesize_sketch(p, style) for p in photos], truths, subset)
            for style in PROCEDURAL]
    print("\n".join(rows), flush=True)
    return rows


def run_model(pipe: PhotoToSketchPipeline, photos: list[np.ndarray], style: str | None) -> tuple[list, float]:
    began = time.perf_counter()
    outputs = [np.asarray(pipe(p, keep_size=True, style=style)) for p in photos]
    return outputs, 1000 * (time.perf_counter() - began) / len(photos)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["photo2sketch-v1", "baselines/photo2sketch-cufs"])
    parser.add_argument("--fs2k", type=Path, default=Path("cache/fs2k-v2"),
                        help="prepared FS2K folder (prepare-data); skipped when missing")
    parser.add_argument("--output", type=Path, default=Path("docs/results/reverse"))
    args = parser.parse_args()
    pipes = [PhotoToSketchPipeline(m) for m in args.models]
    header = "| system | n | FSIM | SSIM | PSNR | R |\n|---|---|---|---|---|---|"

    evalset = resolve_eval_set("cufs-test")
    photos = [to_rgb(load_image(p)) for p in evalset.photos]
    truths = [to_grayscale(load_image(p)) for p in evalset.sketches]
    cufs_lines, timings, examples = [header], [], []
    for pipe in pipes:
        style = "cufs" if "cufs" in pipe.styles else None
        outputs, ms = run_model(pipe, photos, style)
        timings.append(f"{pipe.model_name}: {ms:.1f} ms per photo ({pipe.backend_name})")
        cufs_lines.append(table_rows(system_label(pipe, style), outputs, truths))
        examples.append(outputs)
        print(cufs_lines[-1], flush=True)
    cufs_lines += procedural_rows(photos, truths)
    text = (f"## CUFS test photos -> sketches (n = {len(photos)}), compared with the artists' sketches\n\n"
            + "\n".join(cufs_lines) + "\n")

    picks = [0, 120, 250]
    grid = [np.concatenate([photos[i].mean(2).astype(np.uint8), *[e[i] for e in examples], truths[i]], axis=1)
            for i in picks]
    args.output.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(grid, axis=0)).save(args.output / "examples.png")

    if (args.fs2k / "manifest.json").is_file():
        fs2k = resolve_eval_set(str(args.fs2k), split="val")
        fs2k_lines = ["| FS2K style | system | n | FSIM | SSIM | PSNR | R |", "|---|---|---|---|---|---|---|"]
        for group in sorted(g for g in fs2k.groups if g.startswith("fs2k-style")):
            members = fs2k.groups[group]
            group_photos = [to_rgb(load_image(fs2k.photos[i])) for i in members]
            group_truths = [to_grayscale(load_image(fs2k.sketches[i])) for i in members]
            for pipe in pipes:
                asks = ([group] if group in pipe.styles else []) + (["cufs"] if "cufs" in pipe.styles else [])
                for style in asks or [None]:
                    outputs = run_model(pipe, group_photos, style)[0]
                    fs2k_lines.append(table_rows(system_label(pipe, style), outputs, group_truths, group))
                    print(fs2k_lines[-1], flush=True)
            fs2k_lines += procedural_rows(group_photos, group_truths, group)
        text += (f"\n## FS2K validation photos -> sketches (the {len(fs2k.names)} pairs held out of training), "
                 "by FS2K style\n\n" + "\n".join(fs2k_lines) + "\n")
    command = "python benchmarks/reverse.py --models " + " ".join(args.models)
    text = (f"Command: `{command}` (2 cores).\n\n" + text + "\nModel time, pre/post-processing included: "
            + "; ".join(timings) + ".\n")
    (args.output / "reverse.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
