"""Contact sheets for docs/data.md: every synthetic sketch style on the same LFW faces, and CUFS /
FS2K pairs before and after alignment.

    python scripts/style_sheet.py   # writes docs/images/sketch_styles.png and docs/images/aligned_samples.png
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from sketch2face.data.align import align_face
from sketch2face.data.prepare import PrepareOptions, _align_pair
from sketch2face.data.sketch import STYLES, synthesize_sketch
from sketch2face.data.transforms import load_image, prepare_photo, prepare_sketch, to_grayscale, to_rgb
from sketch2face.evaluate import data_root

TILE = 160
LFW_PEOPLE = ["Aaron_Peirsol", "Angelina_Jolie", "Colin_Powell", "Serena_Williams", "Jackie_Chan"]


def tile(array: np.ndarray) -> Image.Image:
    image = Image.fromarray(array).convert("RGB")
    return image.resize((TILE, TILE), Image.Resampling.LANCZOS)


def sheet(rows: list[list[Image.Image]], header: list[str]) -> Image.Image:
    out = Image.new("RGB", (len(header) * (TILE + 4), 18 + len(rows) * (TILE + 4)), "white")
    draw = ImageDraw.Draw(out)
    for c, label in enumerate(header):
        draw.text((c * (TILE + 4) + 4, 3), label, fill="black")
    for r, row in enumerate(rows):
        for c, image in enumerate(row):
            out.paste(image, (c * (TILE + 4), 18 + r * (TILE + 4)))
    return out


def main() -> None:
    root = data_root()
    out = Path("docs/images")
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for person in LFW_PEOPLE:
        path = sorted((root / "lfw" / person).iterdir())[0]
        photo = align_face(path, kind="photo").image
        rows.append([tile(photo)] + [tile(synthesize_sketch(photo, style)) for style in STYLES])
    sheet(rows, ["aligned LFW photo", *STYLES]).save(out / "sketch_styles.png")

    rows = []
    pairs = [("cufs/train", "AR_100"), ("cufs/train", "CUHK_student_19"), ("cufs/train", "XM2VTS_19"),
             ("fs2k/train", "photo1/image0110"), ("fs2k/train", "photo2/image0001"), ("fs2k/train", "photo3/image0001")]
    for folder, stem in pairs:
        photo_path = next((root / folder / "photos").glob(f"{stem}.*"), None)
        sketch_path = next((root / folder / "sketches").glob(f"{stem}.*"), None)
        if photo_path is None or sketch_path is None:
            continue
        photo, sketch = to_rgb(load_image(photo_path)), to_grayscale(load_image(sketch_path))
        # the same pairing rule as prepare-data: the photo's landmarks place both images
        aligned_photo, aligned_sketch, _, _ = _align_pair(photo, sketch, PrepareOptions(), stem)
        rows.append([tile(prepare_photo(photo, TILE)[0]), tile(prepare_sketch(sketch, TILE)),
                     tile(aligned_photo), tile(aligned_sketch)])
    sheet(rows, ["photo (as stored)", "sketch (as stored)", "photo aligned", "sketch aligned"]).save(
        out / "aligned_samples.png")
    print(f"wrote {out / 'sketch_styles.png'} and {out / 'aligned_samples.png'}")


if __name__ == "__main__":
    main()
