"""How the pipeline reads line drawings drawn in pencil or scanned large: the figures behind
``transforms.strengthen_lines`` (docs/freehand.md, "Pencil drawings and large scans"; E29).

    python scripts/measure_line_strength.py [--people 60] [--plain] [--photographed]

Validation people (LFW A-S photos, every 25th of cache/freehand-lfw) drawn by each non-test procedure,
at 256 px and 2 and 8 times larger with the same pens (``FaceGeometry.scaled``: a fine pen on a large
sheet), in black and in pencil grey (``data.augment.in_pencil``). Per row: how many the pipeline reads
as line drawings (the rest go to the portrait model, which traces them) and how the composer takes
them (``PreparedSketch.how_drawn``: with the person's outline, or a face drawn alone). ``--plain``
shrinks without strengthening the lines, as the pipeline did before E29; ``--photographed`` takes
each drawing as a phone photographs it (``data.augment.photographed``: uneven light, grey paper,
noise, blur, JPEG), as a drawing on paper usually reaches the tool.
"""
import argparse
from collections import Counter
from pathlib import Path

import numpy as np

from sketch2face import pipeline
from sketch2face.data.augment import in_pencil, photographed
from sketch2face.data.freehand import TRAINING_PROCEDURES, VALIDATION_PROCEDURES, draw_freehand, prepared_geometry, prepared_items
from sketch2face.data.transforms import resize


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, default=Path("cache/freehand-lfw"))
    parser.add_argument("--people", type=int, default=60)
    parser.add_argument("--scales", nargs="+", type=int, default=[1, 2, 8])
    parser.add_argument("--inks", nargs="+", type=int, default=[0, 120, 190])
    parser.add_argument("--plain", action="store_true", help="shrink without strengthening (before E29)")
    parser.add_argument("--photographed", action="store_true", help="each drawing photographed by a phone")
    args = parser.parse_args()
    if args.plain:
        pipeline.strengthen_lines = lambda square, size: resize(square, (size, size))
    items = prepared_items(args.source)[::25][:args.people]
    print(f"{len(items)} people of {args.source}{', lines not strengthened' if args.plain else ''}"
          f"{', photographed' if args.photographed else ''}\n")
    print("| procedure | size | darkest ink | read as lines | with the outline | face alone | face alone, enlarged |")
    print("|---|---|---|---|---|---|---|")
    for procedure in TRAINING_PROCEDURES + VALIDATION_PROCEDURES:
        for scale in args.scales:
            for ink in args.inks:
                prepared = []
                for seed, item in enumerate(items):
                    geometry = prepared_geometry(args.source, item)
                    drawing = draw_freehand(geometry.scaled(scale) if scale > 1 else geometry, 256 * scale,
                                            procedure, rng=seed)
                    drawing = in_pencil(drawing, ink) if ink else drawing
                    if args.photographed:
                        drawing = photographed(drawing, np.random.default_rng(seed))
                    prepared.append(pipeline.preprocess_sketch(drawing, compose=True, composite="photo"))
                how = Counter(p.how_drawn for p in prepared)
                lines = sum(p.kind == "lines" for p in prepared)
                print(f"| {procedure} | {256 * scale} | {ink} | {lines} | {how['outline']} | {how['face']} "
                      f"| {how['enlarged face']} |", flush=True)


if __name__ == "__main__":
    main()
