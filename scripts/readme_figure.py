"""The README picture: CUFS *test* sketches | the bundled default model's faces | the true photos.

    python scripts/readme_figure.py [--model NAME] [--ids 7 52 120 250] [--out docs/images/readme_example.png]
    python scripts/readme_figure.py --folder cache/utk-hed --ids NAME ... --out docs/images/line_drawings.png
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from sketch2face import SketchToFacePipeline
from sketch2face.data.transforms import load_image, to_grayscale, to_rgb
from sketch2face.evaluate import data_root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None)
    parser.add_argument("--ids", nargs="+", default=["7", "52", "120", "250"])
    parser.add_argument("--out", type=Path, default=Path("docs/images/readme_example.png"))
    parser.add_argument("--folder", type=Path, help="a paired folder instead of CUFS test (ids are file stems)")
    args = parser.parse_args()
    pipe = SketchToFacePipeline(args.model)
    test = args.folder or data_root() / "cufs" / "test"
    columns = []
    for index in args.ids:
        sketch_path = next((test / "sketches").glob(f"{index}.*"))
        photo_path = next((test / "photos").glob(f"{index}.*"))
        face = np.asarray(pipe(sketch_path, keep_size=True))
        sketch = np.repeat(to_grayscale(load_image(sketch_path))[:, :, None], 3, axis=2)
        photo = to_rgb(load_image(photo_path))
        gap = np.full((4, face.shape[1], 3), 255, np.uint8)
        columns.append(np.concatenate([sketch, gap, face, gap, photo], axis=0))
    spacer = np.full((columns[0].shape[0], 6, 3), 255, np.uint8)
    sheet = np.concatenate([c for column in columns for c in (column, spacer)][:-1], axis=1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(sheet).save(args.out, optimize=True)
    print(f"wrote {args.out} ({sheet.shape[1]}x{sheet.shape[0]}) with model {pipe.model_name}")


if __name__ == "__main__":
    main()
