"""Build the composer's bank of faces (``src/sketch2face/assets/exemplar_bank.npz``).

    # the shipped bank (E32; cache/freehand-lfw-7000: docs/freehand.md); before E32 cache/freehand-lfw:1200
    python scripts/build_exemplar_bank.py cache/freehand-lfw-7000:7000 cache/freehand-fs2k-cufs:100 \\
        [--output src/sketch2face/assets/exemplar_bank.npz]

Takes FOLDER:COUNT faces, evenly spread, from freehand-prepared folders (LFW people A-S, UTKFace,
FS2K and CUFS train: the training photos; never LFW T-Z or CUFS test, which the benchmarks use) and
keeps only faces that fill their frame (alignment filled at most 2 % of it, with black or repeated
edges), sit where aligned faces sit (landmarks) and whose
sketch has ink in the face (a washed-out photo gives a blank face to compose from); stores for each its
aligned photo (WebP; its pencil sketch is ``line_sketch`` of it, drawn when composing), its landmarks, and
the part features of a drawing of it by a training procedure (``strokes`` and ``sketchy`` in turn,
seeded by position), and the "rest" feature of the same drawing made without the person's outline,
as drawn and as the pipeline frames it (``compose.REST_WITHOUT_OUTLINE``, ``..._AS_FRAMED``), and how
each of its parts looks in its photo (``compose.part_appearance``: what the composer matches a part's
lighting by). The test-only procedure is never used. (UTKFace's tight crops never pass the
padding gate, so the shipped bank has no UTKFace face.)
"""
import argparse
import dataclasses
import io
from pathlib import Path

import numpy as np
from PIL import Image

from sketch2face.compose import (
    BANK_FILE,
    PHOTO_FORMAT,
    PHOTO_QUALITY,
    REST_WITHOUT_OUTLINE,
    REST_WITHOUT_OUTLINE_AS_FRAMED,
    ExemplarBank,
    part_appearance,
)
from sketch2face.data.align import fill_black_border
from sketch2face.data.freehand import (
    MEAN_LANDMARKS_256,
    TRAINING_PROCEDURES,
    draw_freehand,
    prepared_geometry,
    prepared_items,
)
from sketch2face.data.sketch import line_sketch
from sketch2face.data.transforms import load_image
from sketch2face.fidelity import distance_field, part_features
from sketch2face.pipeline import preprocess_sketch


def folder_and_count(text: str) -> tuple[Path, int]:
    folder, _, count = text.rpartition(":")
    if not folder or not count.isdigit():
        raise argparse.ArgumentTypeError(f"expected FOLDER:COUNT, got {text!r}")
    return Path(folder), int(count)


#: Quality gates for bank faces (measured on every tenth face of the three folders: 46 % of aligned
#: LFW photos have some black padding, 10 % of faces have under 9 % ink between eyes and chin).
MAX_PADDING_SHARE = 0.02
MIN_FACE_INK_SHARE = 0.09
#: Mean distance (pixels at 256) of a face's brow, eye, nose and mouth landmarks from the mean face's:
#: aligned faces are at 4 (median) and 10 (95th percentile); beyond 12 the landmarks are off or the
#: face is turned, and its parts would be moved to odd places.
MAX_LANDMARK_OFFSET = 12.0
#: The parts' landmarks (nose, eyes, mouth) at least this many pixels inside the frame: a part's blending
#: mask reaches PART_MARGIN (<= 8) beyond them. One face of 2,719 usable in 7,000 LFW photos had its mouth at
#: 237 with its mean offset within MAX_LANDMARK_OFFSET (E32); none of the 1,153 in 3,000.
PART_INSET = 20


def padded_share(photo: np.ndarray) -> float:
    """The share of an aligned photo that alignment filled in: black, or edge pixels repeated
    (leading rows or columns on each side that equal their inner neighbour and are not a plain
    background: streaks)."""
    grey = photo.astype(np.float32).mean(axis=2)
    repeated = 0
    for side in (grey, grey[::-1], grey.T, grey.T[::-1]):
        steps = (np.abs(np.diff(side[:64], axis=0)).mean(axis=1) < 1.0) & (side[:63].std(axis=1) > 4.0)
        repeated += int(np.argmin(steps)) if not steps.all() else 64
    return max(float((photo.max(axis=2) < 4).mean()), repeated / grey.shape[0])


def usable(photo: np.ndarray, sketch: np.ndarray, landmarks: np.ndarray) -> bool:
    padding = padded_share(photo)
    face_ink = (sketch[92:212, 64:192] < 200).mean()
    offset = np.linalg.norm(landmarks[17:] - MEAN_LANDMARKS_256[17:], axis=1).mean()
    inside = bool((landmarks[27:] > PART_INSET).all() and (landmarks[27:] < 256 - PART_INSET).all())
    return padding <= MAX_PADDING_SHARE and face_ink >= MIN_FACE_INK_SHARE and offset <= MAX_LANDMARK_OFFSET and inside


def encoded(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, PHOTO_FORMAT, quality=PHOTO_QUALITY)
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sources", nargs="+", type=folder_and_count)
    parser.add_argument("--output", type=Path, default=BANK_FILE)
    args = parser.parse_args()
    features: dict[str, list[np.ndarray]] = {}
    landmarks, photos = [], []
    appearance: dict[str, list[np.ndarray]] = {}
    for folder, count in args.sources:
        items, kept = prepared_items(folder), []
        for index, item in enumerate(items):
            photo = np.asarray(load_image(folder / "photos" / f"{item['name']}.png").convert("RGB"))
            if photo.shape[:2] != (256, 256):
                raise SystemExit(f"{folder}: {item['name']} is {photo.shape[1]}x{photo.shape[0]}, expected 256x256")
            sketch = line_sketch(photo)
            if usable(photo, sketch, np.asarray(item["landmarks"], np.float32)):
                kept.append((index, item, photo))
        print(f"{folder}: {len(kept)} of {len(items)} faces usable")
        for pick in np.linspace(0, len(kept) - 1, min(count, len(kept))).round().astype(int):
            index, item, photo = kept[pick]
            geometry = prepared_geometry(folder, item)
            procedure = TRAINING_PROCEDURES[len(photos) % len(TRAINING_PROCEDURES)]
            drawing = draw_freehand(geometry, 256, procedure, rng=int(index))
            for name, feature in part_features(distance_field(drawing)).items():
                features.setdefault(name, []).append(feature)
            alone = draw_freehand(dataclasses.replace(geometry, silhouette=None), 256, procedure, rng=int(index))
            features.setdefault(REST_WITHOUT_OUTLINE, []).append(part_features(distance_field(alone))["rest"])
            framed = ((preprocess_sketch(alone).values[0] + 1) * 127.5).round().astype(np.uint8)
            features.setdefault(REST_WITHOUT_OUTLINE_AS_FRAMED, []).append(part_features(distance_field(framed))["rest"])
            for part, look in part_appearance(photo, geometry.landmarks).items():
                appearance.setdefault(part, []).append(look)
            landmarks.append(geometry.landmarks)
            photos.append(encoded(fill_black_border(photo)))  # no black wedges in a composite (E34)
    bank = ExemplarBank({k: np.stack(v) for k, v in features.items()}, np.stack(landmarks), photos,
                        {k: np.stack(v) for k, v in appearance.items()})
    bank.save(args.output)
    print(f"{args.output}: {len(bank)} faces, {args.output.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
