"""Where the ink of freehand training drawings sits in the models' framing: the figures behind
``pipeline.FRAMED_INK_SPAN`` and ``FRAMED_INK_CENTRE_Y``.

    python scripts/measure_framing.py cache/freehand-lfw [--limit 400]

Redraws each face with the training procedures and prints the median span (larger side of the ink
box / frame side) and the median vertical centre of the ink box; ``--no-silhouette`` draws the faces
without their hair and shoulder outline (a head drawn on its own).
"""
import argparse
from pathlib import Path

import numpy as np

from sketch2face.data.freehand import (
    TRAINING_PROCEDURES,
    draw_freehand,
    prepared_geometry,
    prepared_items,
)
from sketch2face.pipeline import ink_box


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--limit", type=int, default=400)
    parser.add_argument("--no-silhouette", action="store_true")
    args = parser.parse_args()
    items = prepared_items(args.folder)
    spans, centres = [], []
    for k, item in enumerate(items[: args.limit]):
        geometry = prepared_geometry(args.folder, item)
        if args.no_silhouette:
            geometry.silhouette = None
        drawing = draw_freehand(geometry, 256, TRAINING_PROCEDURES[k % len(TRAINING_PROCEDURES)], rng=k)
        box = ink_box(drawing)
        if box is None:
            continue
        x0, y0, x1, y1 = box
        spans.append(max(x1 - x0, y1 - y0) / 256)
        centres.append((y0 + y1) / 2 / 256)
    spans, centres = np.array(spans), np.array(centres)
    print(f"{len(spans)} drawings: span median {np.median(spans):.3f} (p10 {np.percentile(spans, 10):.3f}, "
          f"p90 {np.percentile(spans, 90):.3f}); vertical centre median {np.median(centres):.3f}")


if __name__ == "__main__":
    main()
