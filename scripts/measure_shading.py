"""How shaded sketches are and how white their paper is: the figures behind ``pipeline.SHADED_SHARE``
(the line between shaded portraits and line drawings that a routed model dispatches on) and
``transforms.WHITE_PAPER`` (docs/freehand.md, "Photographed drawings").

    python scripts/measure_shading.py [FOLDER ...] [--limit 200]

Default folders: CUFS train and test sketches, FS2K's three photo folders, the freehand and
synthetic-line caches (cache/freehand-lfw, cache/lfw-synth) and the freehand benchmark's doodles and
training-procedure drawings (cache/freehand-bench, made by benchmarks/freehand.py), those that exist.
Per folder: the minimum, 5th percentile, median, 95th percentile and maximum of ``shaded_share``
after framing; the brightest paper (``paper_illumination``) at its minimum and 1st percentile and how
many sketches whitening changes; and, for copies photographed under room light
(``data.augment.photographed``, seeded by position), how many are read as line drawings as they are,
photographed, photographed then whitened, and drawn in pencil (darkest ink at grey 120,
``data.augment.in_pencil``); each as the pipeline judges it, on its lines strengthened
(``transforms.strengthen_lines``).
"""
import argparse
from pathlib import Path

import numpy as np

from sketch2face.data.augment import in_pencil, photographed
from sketch2face.data.datasets import list_images
from sketch2face.data.transforms import (
    from_model_range, load_image, pad_to_square, paper_illumination, strengthen_lines, to_grayscale, whiten_paper,
)
from sketch2face.evaluate import data_root
from sketch2face.pipeline import MEASURED_AT, drawing_kind, preprocess_sketch, shaded_share

#: The darkest ink of the "in pencil" copies (``data.augment.in_pencil``), as the freehand benchmark's ``scanned`` set.
PENCIL_INK = 120


def is_lines(grey: np.ndarray, photographed: bool = False) -> bool:
    """As the pipeline judges a sketch padded to a square: on its lines strengthened; ``photographed``:
    whitened from grey paper, so its face must be shaded too (``pipeline.SHADED_FACE_SHARE``)."""
    square, _ = pad_to_square(grey, fill=255)
    return drawing_kind(strengthen_lines(square, MEASURED_AT), photographed) == "lines"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="*", type=Path)
    parser.add_argument("--limit", type=int, default=200, help="at most this many images per folder, spread")
    args = parser.parse_args()
    root = data_root()
    folders = args.folders or [root / "cufs/train/sketches", root / "cufs/test/sketches",
                               *(root / f"fs2k/train/sketches/photo{k}" for k in (1, 2, 3)),
                               Path("cache/freehand-lfw/sketches"), Path("cache/lfw-synth/sketches"),
                               Path("cache/freehand-bench/doodle/sketches"), Path("cache/freehand-bench/strokes/sketches")]
    for folder in folders:
        if not folder.is_dir():
            continue
        paths = list(list_images(folder).values())
        picks = [paths[i] for i in np.linspace(0, len(paths) - 1, min(args.limit, len(paths))).round().astype(int)]
        shares = np.array([shaded_share(from_model_range(preprocess_sketch(p, 256).values[0])) for p in picks])
        low, p5, median, p95, high = np.percentile(shares, [0, 5, 50, 95, 100])
        print(f"{folder}: n={len(shares)} shaded share min {low:.3f} p5 {p5:.3f} median {median:.3f} "
              f"p95 {p95:.3f} max {high:.3f}")
        brightest, changed, lines = [], 0, np.zeros(4, int)
        for index, path in enumerate(picks):
            grey = to_grayscale(load_image(path))
            brightest.append(paper_illumination(grey).brightest)
            changed += whiten_paper(grey) is not grey
            photo = photographed(grey, np.random.default_rng(index))
            whitened = whiten_paper(photo)
            lines += [is_lines(grey), is_lines(photo), is_lines(whitened, photographed=whitened is not photo),
                      is_lines(in_pencil(grey, PENCIL_INK))]
        print(f"    brightest paper min {min(brightest):.0f} p1 {np.percentile(brightest, 1):.0f}; whitened {changed}; "
              f"read as lines: as drawn {lines[0]}, photographed {lines[1]}, photographed and whitened {lines[2]}, "
              f"in pencil {lines[3]}")


if __name__ == "__main__":
    main()
