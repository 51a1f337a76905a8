"""How shaded sketches are: the figures behind ``pipeline.SHADED_SHARE``, the line between shaded
portraits and line drawings that a routed model dispatches on.

    python scripts/measure_shading.py [FOLDER ...]

Default folders: CUFS train and test sketches, FS2K's three photo folders, and the freehand and
synthetic-line caches (cache/freehand-lfw, cache/lfw-synth) when they exist. Prints, per folder, the
minimum, 5th percentile, median, 95th percentile and maximum of ``shaded_share`` after framing.
"""
import argparse
from pathlib import Path

import numpy as np

from sketch2face.data.datasets import list_images
from sketch2face.data.transforms import from_model_range
from sketch2face.evaluate import data_root
from sketch2face.pipeline import preprocess_sketch, shaded_share


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="*", type=Path)
    parser.add_argument("--limit", type=int, default=200, help="at most this many images per folder, spread")
    args = parser.parse_args()
    root = data_root()
    folders = args.folders or [root / "cufs/train/sketches", root / "cufs/test/sketches",
                               *(root / f"fs2k/train/sketches/photo{k}" for k in (1, 2, 3)),
                               Path("cache/freehand-lfw/sketches"), Path("cache/lfw-synth/sketches")]
    for folder in folders:
        if not folder.is_dir():
            continue
        paths = list(list_images(folder).values())
        picks = [paths[i] for i in np.linspace(0, len(paths) - 1, min(args.limit, len(paths))).round().astype(int)]
        shares = np.array([shaded_share(from_model_range(preprocess_sketch(p, 256).values[0])) for p in picks])
        low, p5, median, p95, high = np.percentile(shares, [0, 5, 50, 95, 100])
        print(f"{folder}: n={len(shares)} min {low:.3f} p5 {p5:.3f} median {median:.3f} p95 {p95:.3f} max {high:.3f}")


if __name__ == "__main__":
    main()
