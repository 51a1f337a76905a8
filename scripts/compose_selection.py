"""Choose the composer's hubness correction (``sketch2face.compose.HUB_WEIGHT``) on
validation drawings: people in neither the bank nor the freehand benchmark (UTKFace), drawn by the
training procedures, scored by the default model's FID and KID against their photos.

    sketch2face prepare-data --photos ../shared/data/utkface --limit 400 --spread \\
        --styles strokes --out cache/freehand-val-utk
    python scripts/compose_selection.py --hub-weights 0 0.5 1

(0 is composing as it was before the correction.) Prints a Markdown table: FID, KID, and how many
distinct base faces the drawings chose.
"""
import argparse
import hashlib
from collections import Counter
from pathlib import Path

import numpy as np

import sketch2face.compose as compose
from sketch2face.data.freehand import TRAINING_PROCEDURES, draw_freehand, prepared_geometry, prepared_items
from sketch2face.data.transforms import load_image, to_rgb
from sketch2face.fid import fid_from_features, inception_features, kid_from_features
from sketch2face.fidelity import distance_field, part_features
from sketch2face.pipeline import SketchToFacePipeline, preprocess_sketch


def drawings_and_photos(source: Path, people: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """One drawing per photo, by the training procedures in turn, seeded by the photo's name."""
    drawings, photos = [], []
    for index, item in enumerate(prepared_items(source)[:people]):
        seed = int.from_bytes(hashlib.sha256(f"compose-selection:{item['name']}".encode()).digest()[:4], "big")
        procedure = TRAINING_PROCEDURES[index % len(TRAINING_PROCEDURES)]
        drawings.append(draw_freehand(prepared_geometry(source, item), 256, procedure, rng=seed))
        photos.append(to_rgb(load_image(source / "photos" / f"{item['name']}.png")))
    return drawings, photos


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, default=Path("cache/freehand-val-utk"))
    parser.add_argument("--people", type=int, default=400)
    parser.add_argument("--model", default="sketch2face-v4")
    parser.add_argument("--hub-weights", nargs="+", type=float, default=[0.0, 0.5, 1.0])
    args = parser.parse_args()
    drawings, photos = drawings_and_photos(args.source, args.people)
    real = inception_features(photos)
    pipe = SketchToFacePipeline(args.model, backend="torch")
    bank = compose.default_bank()
    framed = [((preprocess_sketch(d).values[0] + 1) * 127.5).round().astype(np.uint8) for d in drawings]
    features = [part_features(distance_field(f)) for f in framed]
    print(f"{len(drawings)} drawings of {args.source} through {args.model}\n")
    print("| HUB_WEIGHT | FID | KID | distinct bases | most used base |")
    print("|---|---|---|---|---|")
    for hub_weight in args.hub_weights:
        compose.HUB_WEIGHT = hub_weight
        bases = Counter(bank.choose(f)["base"] for f in features)
        faces = [np.asarray(r.face) for r in pipe.run(drawings, keep_size=True)]
        fake = inception_features(faces)
        fid, (kid, _) = fid_from_features(fake, real), kid_from_features(fake, real)
        print(f"| {hub_weight:g} | {fid:.1f} | {kid:.4f} | {len(bases)} | {bases.most_common(1)[0][1]} |",
              flush=True)


if __name__ == "__main__":
    main()
