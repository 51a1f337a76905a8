"""Build the fidelity control's part bank (``src/sketch2face/assets/part_bank.npz``).

    python scripts/build_part_bank.py cache/freehand-lfw [--count 1000] [--output src/sketch2face/assets/part_bank.npz]

Draws ``--count`` faces of a freehand-prepared folder (LFW people A-S, the training people) with the
training procedures (``strokes`` and ``sketchy`` in turn, seeded by position) and stores the
distance-field features of each part (``sketch2face.fidelity``). The test-only procedure is never used.
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
from sketch2face.fidelity import BANK_FILE, PartBank, distance_field, part_features


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--output", type=Path, default=BANK_FILE)
    args = parser.parse_args()
    items = prepared_items(args.folder)
    picks = np.linspace(0, len(items) - 1, min(args.count, len(items))).round().astype(int)
    parts: dict[str, list[np.ndarray]] = {}
    for k, index in enumerate(picks):
        item = items[index]
        geometry = prepared_geometry(args.folder, item)
        drawing = draw_freehand(geometry, 256, TRAINING_PROCEDURES[k % len(TRAINING_PROCEDURES)], rng=int(index))
        for name, feature in part_features(distance_field(drawing)).items():
            parts.setdefault(name, []).append(feature)
    PartBank({k: np.stack(v) for k, v in parts.items()}).save(args.output)
    print(f"{args.output}: {len(picks)} drawings, {args.output.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
