"""Is one model more real than another on validation, beyond noise? A paired comparison of KID.

    python scripts/compare_on_validation.py sketch2face-long runs/00000-e22-realism/release

Each model (a bundled name or a release folder) draws the recipe's validation pairs (346 for
configs/sketch2face_long.yaml, identity-disjoint from training). KID is an average over pairs of
images, so its noise comes from which validation people there are: the script draws the same random
half of the validation people for every model (and for the true photos) many times, and reports each
model's KID, the difference to the first model with its spread scaled to the whole set (for a
U-statistic the variance falls with the sample size: half the people, twice the variance), and how often
the model beats the first. SSIM's per-image difference is reported with its standard error.

``--sheet PATH`` also saves a contact sheet to look at: sketch | each model's face | true photo for the
first ``--sheet-rows`` validation pairs of each training folder.

Earlier decisions called a KID difference "within noise" when it was about what KID moved between
neighbouring validations of one run (0.001-0.002, docs/experiments.md E16, E19); this measures it.
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from sketch2face.config import load_config
from sketch2face.fid import inception_features, kid_from_features
from sketch2face.metrics import ssim
from sketch2face.pipeline import _ModelRunner
from sketch2face.train import load_training_data


def model_faces(model: str, sketches: np.ndarray, backend: str = "torch") -> np.ndarray:
    """The model's faces (uint8 RGB) for (N, S, S) uint8 sketches, in fp32 (a run's release has no ONNX file)."""
    runner = _ModelRunner(model, backend=backend, precision="fp32")
    batches = []
    for start in range(0, len(sketches), 8):
        output = runner.predict(sketches[start:start + 8].astype(np.float32)[:, None] / 127.5 - 1)
        batches.append(np.clip((output.transpose(0, 2, 3, 1) + 1) * 127.5, 0, 255).round().astype(np.uint8))
    return np.concatenate(batches)


def per_image_ssim(faces: np.ndarray, photos: np.ndarray) -> np.ndarray:
    to_tensor = lambda images: torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255  # noqa: E731
    return ssim(to_tensor(faces), to_tensor(photos)).numpy()


def paired_kid_draws(features: dict[str, np.ndarray], real: np.ndarray, draws: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Each model's KID against ``real`` on ``draws`` random halves of the rows, the same half (the same
    validation people) for every model in a draw."""
    rng = np.random.default_rng(seed)
    half = len(real) // 2
    kids = {model: [] for model in features}
    for draw in range(draws):
        people = rng.choice(len(real), half, replace=False)
        for model, model_features in features.items():
            kids[model].append(kid_from_features(model_features[people], real[people], subsets=1, seed=draw)[0])
    return {model: np.asarray(values) for model, values in kids.items()}


def save_sheet(path: str, val, faces: dict[str, np.ndarray], rows_per_folder: int, cell: int = 160) -> None:
    """Rows of sketch | each model's face | true photo, the first pairs of each folder, models named on top."""
    from PIL import Image, ImageDraw

    picks = [i for k in sorted(set(val.sources.tolist())) for i in np.flatnonzero(val.sources == k)[:rows_per_folder]]
    columns = ["sketch", *faces, "true photo"]
    sheet = Image.new("RGB", (cell * len(columns), 18 + cell * len(picks)), "white")
    draw = ImageDraw.Draw(sheet)
    for k, name in enumerate(columns):
        draw.text((k * cell + 4, 3), str(name)[-26:], fill="black")
    for row, i in enumerate(picks):
        images = [np.repeat(val.sketches[i][:, :, None], 3, 2), *(made[i] for made in faces.values()), val.photos[i]]
        for k, image in enumerate(images):
            sheet.paste(Image.fromarray(image).resize((cell, cell)), (k * cell, 18 + row * cell))
    sheet.save(path, quality=85)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", help="bundled model names or release folders; the first is the reference")
    parser.add_argument("--config", default="configs/sketch2face_long.yaml", help="the recipe whose validation split is used")
    parser.add_argument("--draws", type=int, default=200)
    parser.add_argument("--sheet", help="also save a contact sheet here")
    parser.add_argument("--sheet-rows", type=int, default=3, help="validation pairs per folder on the sheet")
    args = parser.parse_args()
    _, val = load_training_data(load_config(args.config))
    real = inception_features(list(val.photos))
    faces = {model: model_faces(model, val.sketches) for model in args.models}
    if args.sheet:
        save_sheet(args.sheet, val, faces, args.sheet_rows)
    features = {model: inception_features(list(images)) for model, images in faces.items()}
    ssims = {model: per_image_ssim(images, val.photos) for model, images in faces.items()}
    draws = paired_kid_draws(features, real, args.draws)
    half = len(val) // 2
    reference = args.models[0]
    base = draws[reference]
    scale = np.sqrt(half / len(val))
    print(f"{len(val)} validation pairs; {args.draws} draws of {half} people\n")
    print("| model | KID | KID - first | spread of the difference | beats the first | SSIM | SSIM - first |")
    print("|---|---|---|---|---|---|---|")
    for model in args.models:
        difference = draws[model] - base
        ssim_difference = ssims[model] - ssims[reference]
        print(f"| {model} | {kid_from_features(features[model], real)[0]:.4f} | {difference.mean():+.4f} | "
              f"{difference.std() * scale:.4f} | {(difference < 0).mean():.0%} | {ssims[model].mean():.4f} | "
              f"{ssim_difference.mean():+.4f} +- {ssim_difference.std() / np.sqrt(len(val)):.4f} |")


if __name__ == "__main__":
    main()
