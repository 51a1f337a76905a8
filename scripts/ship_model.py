"""Copy a run's release into the package as a bundled model and add its ONNX files.

    python scripts/ship_model.py RUN_DIR NAME [--no-onnx]

Writes src/sketch2face/weights/NAME/{config.json, model.safetensors, model.onnx, model.int8.onnx} and,
when the release has one, discriminator.safetensors (so `--continue-from NAME` works from a checkout; it is
not installed). A release's validation history and test tables stay in its training folder.
The int8 file is calibrated on 64 real training sketches (CUFS train and FS2K train, alternating),
never on test data. Prints each file's size: every file must stay under 40 MB.
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from sketch2face.evaluate import data_root
from sketch2face.export import calibration_batches, export_onnx, quantize_int8
from sketch2face.io import BUNDLED_DIR, INT8_FILE, ONNX_FILE, load_pretrained

LIMIT_MB = 40
#: what a bundled model is made of; the rest of a release folder (metrics.jsonl, test tables) is its record
RELEASE_FILES = ("config.json", "model.safetensors", "discriminator.safetensors")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("name")
    parser.add_argument("--no-onnx", action="store_true", help="ship the PyTorch weights only")
    args = parser.parse_args()
    release = args.run_dir / "release" if (args.run_dir / "release").is_dir() else args.run_dir
    target = BUNDLED_DIR / args.name
    staging = target.with_name(f".{args.name}.staging")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for name in RELEASE_FILES:
        if (release / name).is_file():
            shutil.copy2(release / name, staging / name)
    if not args.no_onnx:
        model = load_pretrained(staging)
        resolution = model.release_metadata.get("training", {}).get("image_size", 256)
        export_onnx(model, staging / ONNX_FILE, resolution)
        if model.release_metadata.get("training", {}).get("direction", "sketch_to_photo") == "sketch_to_photo":
            root = data_root()
            cufs = calibration_batches([root / "cufs/train/sketches"], resolution, 32)
            fs2k = calibration_batches([root / "fs2k/train/sketches"], resolution, 32)
            calibration = [b for pair in zip(cufs, fs2k) for b in pair]
            quantize_int8(model, staging / INT8_FILE, calibration, resolution)
    for path in sorted(staging.iterdir()):
        size = path.stat().st_size / 1e6
        print(f"{args.name}/{path.name}: {size:.1f} MB" + ("  TOO LARGE" if size > LIMIT_MB else ""))
        if size > LIMIT_MB:
            raise SystemExit(f"{path.name} is over {LIMIT_MB} MB; not shipped")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    print(f"shipped {target}")


if __name__ == "__main__":
    main()
