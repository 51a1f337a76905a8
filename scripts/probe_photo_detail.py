"""Would real photo detail make the portrait model's faces more real? (docs/experiments.md, E21)

E17 found that, for line drawings, texture borrowed from real photos beat rendered texture by 25 FID.
This probe asks the same of pencil portraits without training anything: it adds the fine detail (the
high-pass band) of training photos to sketch2face-long's faces and scores them, with a calibration of
how much blur alone costs, on the recipe's validation pairs (346, identity-disjoint from training):

    python scripts/probe_photo_detail.py
    python scripts/probe_photo_detail.py --config configs/sketch2face_portrait.yaml --model sketch2face-portrait --colour

Rows: the model's faces as they are; the true validation photos blurred (what losing detail alone costs:
the same images, so unblurred they would score 0); an unsharp mask; the detail of the one training photo
nearest to the face (32x32 colour thumbnails); and per pixel the detail of whichever of the 8 nearest
training photos, shifted by up to 3 pixels, best matches the face's own blurred 9x9 neighbourhood
(example-based detail, as in Freeman et al.'s example-based super-resolution). FID per folder is on a
few images (17 CUFS, 75 FS2K, 254 LFW): read it as a direction, not a figure.

``--colour`` asks the same of colour and light (E31): oracle rows that give the model's faces what only
the true photo knows, the band below a Gaussian blur (sigma 4, 8, 16 px: light, skin and hair colour,
background), the chroma alone (CIELAB a and b below a blur of sigma 8), or the photo's global CIELAB
mean and spread, whole or lightness only. No method can do better than its oracle, so a small gain
here rules colour out as the realism gap.
"""
import argparse

import cv2
import numpy as np
from compare_on_validation import model_faces

from sketch2face.config import load_config
from sketch2face.fid import fid_from_features, inception_features, kid_from_features
from sketch2face.train import load_training_data

#: Detail is what a Gaussian blur of this sigma (pixels at 256) removes.
DETAIL_SIGMA = 1.5


def blurred(image: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(image.astype(np.float32), (0, 0), sigma)


def as_image(values: np.ndarray) -> np.ndarray:
    return np.clip(values, 0, 255).round().astype(np.uint8)


class DetailDonors:
    """Training photos, found by their likeness to a face at 32x32."""

    def __init__(self, photos: np.ndarray):
        self.photos = photos
        self.thumbnails = np.stack([self._thumbnail(p) for p in photos])

    @staticmethod
    def _thumbnail(image: np.ndarray) -> np.ndarray:
        return cv2.resize(image, (32, 32), interpolation=cv2.INTER_AREA).reshape(-1).astype(np.float32)

    def nearest(self, face: np.ndarray, count: int) -> np.ndarray:
        return np.argsort(((self.thumbnails - self._thumbnail(face)) ** 2).sum(1))[:count]

    def global_detail(self, face: np.ndarray) -> np.ndarray:
        donor = self.photos[self.nearest(face, 1)[0]].astype(np.float32)
        return as_image(face + donor - blurred(donor, DETAIL_SIGMA))

    def local_detail(self, face: np.ndarray, donors: int = 8, radius: int = 3, patch: int = 9) -> np.ndarray:
        size = face.shape[1], face.shape[0]
        face_low = blurred(face, DETAIL_SIGMA)
        best_cost = np.full(face.shape[:2], np.inf, np.float32)
        detail = np.zeros(face.shape, np.float32)
        for index in self.nearest(face, donors):
            donor = self.photos[index].astype(np.float32)
            donor_low = blurred(donor, DETAIL_SIGMA)
            donor_high = donor - donor_low
            for dy in range(-radius, radius + 1):
                for dx in range(-radius, radius + 1):
                    shift = np.float32([[1, 0, dx], [0, 1, dy]])
                    low = cv2.warpAffine(donor_low, shift, size, borderMode=cv2.BORDER_REFLECT)
                    cost = cv2.boxFilter(((face_low - low) ** 2).sum(2), -1, (patch, patch))
                    better = cost < best_cost
                    best_cost[better] = cost[better]
                    detail[better] = cv2.warpAffine(donor_high, shift, size, borderMode=cv2.BORDER_REFLECT)[better]
        return as_image(face + detail)


def with_low_band(face: np.ndarray, photo: np.ndarray, sigma: float) -> np.ndarray:
    """``face`` with its band below a Gaussian blur of ``sigma`` replaced by ``photo``'s."""
    return as_image(face.astype(np.float32) - blurred(face, sigma) + blurred(photo, sigma))


def _lab(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)


def _rgb(lab: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(as_image(lab), cv2.COLOR_LAB2RGB)


def with_chroma(face: np.ndarray, photo: np.ndarray, sigma: float) -> np.ndarray:
    """``face`` with its CIELAB a and b below a blur of ``sigma`` replaced by ``photo``'s."""
    face_lab, photo_lab = _lab(face), _lab(photo)
    chroma = face_lab[..., 1:]
    face_lab[..., 1:] = chroma - blurred(chroma, sigma) + blurred(photo_lab[..., 1:], sigma)
    return _rgb(face_lab)


def with_statistics(face: np.ndarray, photo: np.ndarray, channels: slice = slice(None)) -> np.ndarray:
    """``face`` with the CIELAB mean and spread of ``photo`` in ``channels``."""
    face_lab, photo_lab = _lab(face), _lab(photo)
    own, target = face_lab[..., channels], photo_lab[..., channels]
    standardised = (own - own.mean((0, 1))) / (own.std((0, 1)) + 1e-3)
    face_lab[..., channels] = standardised * target.std((0, 1)) + target.mean((0, 1))
    return _rgb(face_lab)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/sketch2face_long.yaml", help="the recipe whose validation split is used")
    parser.add_argument("--model", default="sketch2face-long")
    parser.add_argument("--colour", action="store_true", help="the colour-and-light oracle rows instead of the detail rows")
    args = parser.parse_args()
    train, val = load_training_data(load_config(args.config))
    faces = model_faces(args.model, val.sketches, backend="onnx")
    real = inception_features(list(val.photos))
    folders = sorted(set(val.sources.tolist()))
    print(f"{len(val)} validation pairs ({', '.join(str((val.sources == k).sum()) for k in folders)} per folder)\n")
    print("| variant | FID | KID | " + " | ".join(f"FID folder {k}" for k in folders) + " |")
    print("|---|---|---|" + "---|" * len(folders))

    def score(name: str, images) -> None:
        fake = inception_features(list(images))
        per_folder = [fid_from_features(fake[val.sources == k], real[val.sources == k]) for k in folders]
        print(f"| {name} | {fid_from_features(fake, real):.1f} | {kid_from_features(fake, real)[0]:.4f} | "
              + " | ".join(f"{value:.1f}" for value in per_folder) + " |", flush=True)

    score(args.model, faces)
    if args.colour:
        pairs = list(zip(faces, val.photos))
        for sigma in (4, 8, 16):
            score(f"the photo's band below sigma {sigma}", [with_low_band(f, p, sigma) for f, p in pairs])
        score("the photo's chroma below sigma 8", [with_chroma(f, p, 8) for f, p in pairs])
        score("the photo's CIELAB mean and spread", [with_statistics(f, p) for f, p in pairs])
        score("the photo's lightness mean and spread", [with_statistics(f, p, slice(0, 1)) for f, p in pairs])
        return
    for sigma in (1.0, 2.0):
        score(f"true photos blurred, sigma {sigma:g}", [as_image(blurred(p, sigma)) for p in val.photos])
    for amount in (0.5, 1.0):
        score(f"unsharp mask {amount:g}", [as_image(f + amount * (f - blurred(f, 2.0))) for f in faces])
    donors = DetailDonors(train.photos)
    score("detail of the nearest training photo", [donors.global_detail(f) for f in faces])
    score("example-based detail (8 donors, 3 px, 9x9)", [donors.local_detail(f) for f in faces])


if __name__ == "__main__":
    main()
