"""How well does face alignment put the eyes where the models expect them?

    python benchmarks/alignment.py [--limit 200]

For photos and sketches of CUFS test, FS2K train and LFW: detect dlib's 5 landmarks, warp with
`sketch2face.data.align.align_face` to the canonical 256x256 geometry, detect the landmarks again on
the result and measure the eye centres' distance from the canonical eye centres (pixels at 256x256
and % of the canonical inter-ocular distance). The same is measured for plain pad-and-resize framing
(no alignment) as the baseline. Re-detection has its own noise (about 1 px), included in the figures.
Prints a Markdown table.
"""
from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np
from tqdm import tqdm

from sketch2face.data.align import CANONICAL_LANDMARKS_256, NoFaceFoundWarning, align_face, detect_landmarks
from sketch2face.data.datasets import list_images
from sketch2face.data.transforms import load_image, pad_to_square, resize, to_grayscale, to_rgb
from sketch2face.evaluate import data_root


def eye_centres(points: np.ndarray) -> np.ndarray:
    """(5, 2) dlib points -> (2, 2): centre of the image-right eye, centre of the image-left eye."""
    return np.stack([points[0:2].mean(axis=0), points[2:4].mean(axis=0)])


CANONICAL_EYES = eye_centres(CANONICAL_LANDMARKS_256)
INTER_OCULAR = float(np.linalg.norm(CANONICAL_EYES[0] - CANONICAL_EYES[1]))


def measure(files: list[Path], kind: str) -> dict:
    aligned_errors, framed_errors, detected = [], [], 0
    for path in tqdm(files, disable=True):
        image = load_image(path)
        pixels = to_rgb(image) if kind == "photo" else to_grayscale(image)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NoFaceFoundWarning)
            result = align_face(pixels, kind=kind)
        if result.found:
            detected += 1
            again = detect_landmarks(result.image)
            if again is not None:
                aligned_errors.append(np.linalg.norm(eye_centres(again) - CANONICAL_EYES, axis=1).mean())
        square, _ = pad_to_square(pixels, fill=255 if kind == "sketch" else "edge")
        framed = detect_landmarks(resize(square, (256, 256)))
        if framed is not None:
            framed_errors.append(np.linalg.norm(eye_centres(framed) - CANONICAL_EYES, axis=1).mean())
    return {"n": len(files), "detected": detected / max(len(files), 1),
            "aligned": np.asarray(aligned_errors), "framed": np.asarray(framed_errors)}


def fmt(errors: np.ndarray) -> str:
    if not len(errors):
        return "n/a | n/a"
    return (f"{np.mean(errors):.2f} px ({100 * np.mean(errors) / INTER_OCULAR:.1f}%) | "
            f"{np.percentile(errors, 95):.2f} px")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=200, help="images per set (evenly spread)")
    args = parser.parse_args()
    root = data_root()
    sets = {
        ("CUFS test", "photo"): root / "cufs/test/photos", ("CUFS test", "sketch"): root / "cufs/test/sketches",
        ("FS2K train", "photo"): root / "fs2k/train/photos", ("FS2K train", "sketch"): root / "fs2k/train/sketches",
        ("LFW", "photo"): root / "lfw",
    }
    print(f"# eye-centre error after alignment, 256x256 (canonical inter-ocular distance {INTER_OCULAR:.1f} px), "
          f"up to {args.limit} images per set")
    print("| set | kind | n | face detected | aligned: mean error | aligned: 95th pct "
          "| no alignment (pad + resize): mean | no alignment: 95th pct |")
    print("|---|---|---|---|---|---|---|---|")
    for (name, kind), folder in sets.items():
        files = sorted(list_images(folder).values())
        picks = [files[i] for i in np.linspace(0, len(files) - 1, min(args.limit, len(files))).round().astype(int)]
        result = measure(picks, kind)
        print(f"| {name} | {kind} | {result['n']} | {100 * result['detected']:.1f}% | {fmt(result['aligned'])} | "
              f"{fmt(result['framed'])} |", flush=True)


if __name__ == "__main__":
    main()
