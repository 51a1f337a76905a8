"""Every style of a style-conditioned photo -> sketch model on the same held-out photos.

    python scripts/reverse_style_sheet.py [--model photo2sketch-v1] [--fs2k cache/fs2k-v2]
                                          [--output docs/images/photo2sketch-v1_styles.png]

Rows: two CUFS test photos and two FS2K validation photos (held out of training);
columns: the photo, then the model's sketch in each of its styles.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from sketch2face.data.transforms import prepare_photo
from sketch2face.evaluate import resolve_eval_set
from sketch2face.pipeline import PhotoToSketchPipeline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="photo2sketch-v1")
    parser.add_argument("--fs2k", type=Path, default=Path("cache/fs2k-v2"))
    parser.add_argument("--output", type=Path, default=Path("docs/images/photo2sketch-v1_styles.png"))
    args = parser.parse_args()
    pipe = PhotoToSketchPipeline(args.model)
    cufs = resolve_eval_set("cufs-test")
    photos = [cufs.photos[7], cufs.photos[250]]
    if args.fs2k.is_dir():
        fs2k = resolve_eval_set(str(args.fs2k), split="val")
        photos += [fs2k.photos[3], fs2k.photos[40]]
    rows = []
    for path in photos:
        # the photo as the model sees it (padded, not stretched: CUFS photos are 200x250), beside its sketches
        photo = prepare_photo(path, pipe.resolution)[0]
        sketches = [np.repeat(np.asarray(pipe(path, style=s))[:, :, None], 3, 2) for s in pipe.styles or [None]]
        rows.append(np.concatenate([photo, *sketches], axis=1))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(rows, axis=0)).save(args.output)
    print(f"wrote {args.output} (columns: photo, {', '.join(pipe.styles or ['the model'])})")


if __name__ == "__main__":
    main()
