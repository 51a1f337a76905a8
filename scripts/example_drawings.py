"""The example drawings the web page offers to start from ("Start from": example 1-4).

    python scripts/example_drawings.py

Line drawings by the freehand training procedure (``strokes``, a third of an amateur's distortion) of four
CUFS training photos, from the landmarks and silhouettes that ``prepare-data`` kept in
``cache/freehand-fs2k-cufs`` (the command is in configs/sketch2face_freehand.yaml). Drawn at 512x512,
the canvas's size, and written to src/sketch2face/serve/static/examples/drawing-N.png.
"""
from pathlib import Path

import numpy as np
from PIL import Image

from sketch2face.data.freehand import FaceGeometry, draw_freehand, prepared_geometry, prepared_items

SOURCE = Path("cache/freehand-fs2k-cufs")
OUT = Path("src/sketch2face/serve/static/examples")
#: CUFS training photos (two women, two men; names as prepare-data wrote them) and the seed of each
#: drawing, picked from eight by eye: every part drawn, hair as a mass, strands and outlines
DRAWINGS = [("photos__AR_100", 5), ("photos__CUHK_student_69", 6), ("photos__CUHK_student_09", 0),
            ("photos__XM2VTS_72", 5)]
SIZE = 512


def main() -> None:
    items = {item["name"]: item for item in prepared_items(SOURCE)}
    missing = [name for name, _ in DRAWINGS if name not in items]
    if missing:
        raise SystemExit(f"not in {SOURCE}: {missing}; some names there: {sorted(items)[:8]}")
    OUT.mkdir(parents=True, exist_ok=True)
    for number, (name, seed) in enumerate(DRAWINGS, 1):
        geometry = prepared_geometry(SOURCE, items[name])
        scale = SIZE / geometry.silhouette.shape[0] if geometry.silhouette is not None else SIZE / 256
        silhouette = None if geometry.silhouette is None else np.asarray(
            Image.fromarray(geometry.silhouette).resize((SIZE, SIZE), Image.Resampling.NEAREST))
        drawing = draw_freehand(FaceGeometry(geometry.landmarks * scale, silhouette), SIZE, "strokes",
                                rng=seed, strength=0.3)
        path = OUT / f"drawing-{number}.png"
        Image.fromarray(drawing).save(path, optimize=True)
        print(path, f"{path.stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
