"""Figures for docs/freehand.md: the drawing procedures, and what the fidelity control does.

    python scripts/freehand_sheet.py [--model sketch2face-v5]

Faces of held-out LFW people (T-Z; ``cache/freehand-heldout-lfw``, see benchmarks/freehand.py).
Writes docs/images/freehand_procedures.png (photo | strokes | sketchy | cartoon and generic, the
validation-only procedures | doodle, the test-only procedure | strokes without deformation) and docs/images/fidelity.png (a drawing at fidelity 1, 0.7,
0.4 and 0; with --model, each drawing's face below it).
"""
import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from sketch2face.data.freehand import draw_freehand, prepared_geometry, prepared_items
from sketch2face.data.transforms import load_image, to_rgb
from sketch2face.fidelity import apply_fidelity

SOURCE = Path("cache/freehand-heldout-lfw")
CELL = 192


def _cell(image: np.ndarray) -> np.ndarray:
    rgb = image if image.ndim == 3 else np.repeat(image[:, :, None], 3, 2)
    return np.asarray(Image.fromarray(rgb).resize((CELL, CELL), Image.Resampling.LANCZOS))


def _labelled(rows: list[np.ndarray], labels: list[str], path: Path) -> None:
    sheet = Image.fromarray(np.concatenate(rows, axis=0))
    out = Image.new("RGB", (sheet.width, sheet.height + 18), "white")
    out.paste(sheet, (0, 18))
    draw = ImageDraw.Draw(out)
    for k, label in enumerate(labels):
        draw.text((k * CELL + 4, 3), label, fill="black")
    out.save(path)
    print(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="also show the faces this model makes from the fidelity drawings")
    parser.add_argument("--people", type=int, default=5)
    args = parser.parse_args()
    items = prepared_items(SOURCE)
    picks = [items[k] for k in np.linspace(0, len(items) - 1, args.people).round().astype(int)]
    geometries, photos = [], []
    for item in picks:
        geometries.append(prepared_geometry(SOURCE, item))
        photos.append(to_rgb(load_image(SOURCE / "photos" / f"{item['name']}.png")))
    images = Path("docs/images")
    rows = []
    for k, (geometry, photo) in enumerate(zip(geometries, photos)):
        cells = [photo] + [draw_freehand(geometry, 256, p, rng=k) for p in ("strokes", "sketchy", "cartoon", "generic", "doodle")]
        cells.append(draw_freehand(geometry, 256, "strokes", rng=k, strength=0.0))
        rows.append(np.concatenate([_cell(c) for c in cells], axis=1))
    _labelled(rows, ["photo (held out)", "strokes (train)", "sketchy (train)", "cartoon (validation)",
                     "generic (validation)", "doodle (test only)",
                     "strokes, strength 0"], images / "freehand_procedures.png")

    levels = (1.0, 0.7, 0.4, 0.0)
    pipe = None
    if args.model:
        from sketch2face.pipeline import SketchToFacePipeline

        pipe = SketchToFacePipeline(args.model, backend="torch")
    rows = []
    for k, geometry in enumerate(geometries):
        drawing = draw_freehand(geometry, 256, "doodle" if k % 2 else "strokes", rng=k)
        moved = [apply_fidelity(drawing, f) for f in levels]
        rows.append(np.concatenate([_cell(m) for m in moved], axis=1))
        if pipe is not None:
            faces = [np.asarray(pipe.generate_prepared([pipe.preprocess(drawing, fidelity=f)])[0]) for f in levels]
            rows.append(np.concatenate([_cell(f) for f in faces], axis=1))
    _labelled(rows, [f"fidelity {f:g}" for f in levels], images / "fidelity.png")


if __name__ == "__main__":
    main()
