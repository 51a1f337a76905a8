"""Label the composer's bank faces that wear glasses (docs/experiments.md, E40).

    python scripts/glasses_sheets.py sheets DIR       # 44 contact sheets of 64 faces, each tile with its index
    python scripts/glasses_sheets.py apply [LABELS]   # store the labels in the bank (default scripts/exemplar_glasses.txt)

The sheets show each face from the eyes to the mouth, most likely glasses first (the strongest
horizontal edge across the nose bridge, where a frame's bridge sits; E39 found it too unreliable to
label with, 34 of its top 64 wear glasses, but it gathers them on the first sheets). A person reads
the sheets and lists the indices of faces with glasses or sunglasses in LABELS. ``apply`` writes them
into the bank as ``ExemplarBank.glasses`` (atomically), after which the composer never takes such a
face as the base or for the eyes or nose.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from sketch2face.compose import BANK_FILE, ExemplarBank

LABELS = Path(__file__).with_name("exemplar_glasses.txt")
TILE, COLUMNS, ROWS = (162, 90), 8, 8


def bridge_edge(photo: np.ndarray, landmarks: np.ndarray) -> float:
    """The strongest row of vertical gradient on the nose bridge (the middle 40 % between the inner eye
    corners, from the brows to nose landmark 29) over the bridge's median: a frame's bridge is one."""
    grey = cv2.GaussianBlur(cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY).astype(np.float32), (0, 0), 1.0)
    gradient = np.abs(cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3))
    inner_left, inner_right = landmarks[39, 0], landmarks[42, 0]
    width = inner_right - inner_left
    columns = slice(int(round(inner_left + 0.3 * width)), int(round(inner_right - 0.3 * width)) + 1)
    rows = slice(int(round(min(landmarks[21, 1], landmarks[22, 1]))), int(round(landmarks[29, 1])) + 1)
    bridge = gradient[rows, columns]
    return float(bridge.mean(1).max() / (np.median(bridge) + 4.0))


def write_sheets(bank: ExemplarBank, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    order = np.argsort([-bridge_edge(bank.photo(i), bank.landmarks[i]) for i in range(len(bank))], kind="stable")
    per_sheet = COLUMNS * ROWS
    for sheet, start in enumerate(range(0, len(order), per_sheet)):
        tiles = []
        for index in order[start:start + per_sheet]:
            tile = cv2.resize(bank.photo(int(index))[75:175, 38:218], TILE)
            cv2.rectangle(tile, (0, 0), (44, 14), (0, 0, 0), -1)
            cv2.putText(tile, str(int(index)), (2, 11), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 0), 1, cv2.LINE_AA)
            tiles.append(tile)
        tiles += [np.zeros_like(tiles[0])] * (-len(tiles) % COLUMNS)
        rows = [np.concatenate(tiles[r:r + COLUMNS], 1) for r in range(0, len(tiles), COLUMNS)]
        Image.fromarray(np.concatenate(rows, 0)).save(folder / f"sheet{sheet:02d}.png")
    print(f"wrote {sheet + 1} sheets to {folder}")


def read_labels(path: Path, size: int) -> np.ndarray:
    indices = [int(word) for line in path.read_text().splitlines() if not line.startswith("#") for word in line.split()]
    if any(not 0 <= i < size for i in indices):
        raise SystemExit(f"{path}: an index outside the bank's 0-{size - 1}")
    glasses = np.zeros(size, bool)
    glasses[indices] = True
    return glasses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("sheets").add_argument("folder", type=Path)
    commands.add_parser("apply").add_argument("labels", type=Path, nargs="?", default=LABELS)
    parser.add_argument("--bank", type=Path, default=BANK_FILE)
    args = parser.parse_args()
    bank = ExemplarBank.load(args.bank)
    if args.command == "sheets":
        write_sheets(bank, args.folder)
        return
    bank.glasses = read_labels(args.labels, len(bank))
    bank.save(args.bank)
    print(f"{args.bank}: {int(bank.glasses.sum())} of {len(bank)} faces labelled as wearing glasses")


if __name__ == "__main__":
    main()
