"""How often the composed face turns into another person when one more stroke is drawn (live drawing).

    python scripts/measure_live_stability.py [--people 60] [--procedures strokes sketchy cartoon] \
        [--sheet docs/images/live_stability.jpg]

Validation people (LFW A-S photos the bank's gates rejected, as ``compose_selection.py --bank-rejects``)
drawn stroke by stroke by the training and validation procedures (never the test-only doodle); from
half the strokes on, each step adds one stroke and the composer picks a base face for the drawing so
far, as the page's preview does. Prints, per procedure and rule, the share of strokes after which the
base face changes, and how many distinct faces the finished drawings got: the nearest base
(BASE_CANDIDATES 1), the drawing's seeded pick among the candidates (stateless: the CLI, a first
preview), and the same pick keeping the previous stroke's base while it is still a candidate
(``keep_base``: what the page sends back), and the whole pipeline as the page runs it (E25's vote on
how the drawing was drawn, then the kept base). With --sheet, one cartoon drawing's last six strokes and the
photo composite after each, without and with the kept base.
"""
import argparse
from pathlib import Path

import cv2
import numpy as np

import sketch2face.compose as compose
from compose_selection import validation_faces
from sketch2face.data.freehand import (TRAINING_PROCEDURES, VALIDATION_PROCEDURES, freehand_strokes,
                                       prepared_geometry, prepared_items)
from sketch2face.fidelity import distance_field, part_features
from sketch2face.pipeline import preprocess_sketch


def render(strokes, size: int = 256) -> np.ndarray:
    canvas = np.full((size, size), 255, np.uint8)
    for stroke in strokes:
        points = np.round(stroke.points * 8).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(canvas, [points], False, 0, stroke.width, cv2.LINE_AA, 3)
    return canvas


def feature_sequences(source: Path, people: int, procedure: str) -> list[list[dict]]:
    sequences = []
    for seed, (item, _) in enumerate(validation_faces(source, people, bank_rejects=True)):
        strokes = freehand_strokes(prepared_geometry(source, item), 256, procedure, rng=seed)
        steps = []
        for count in range(len(strokes) // 2, len(strokes) + 1):
            framed = ((preprocess_sketch(render(strokes[:count])).values[0] + 1) * 127.5).round().astype(np.uint8)
            steps.append(part_features(distance_field(framed)))
        sequences.append(steps)
    return sequences


def page_bases(source: Path, people: int, procedure: str) -> tuple[list[list[int]], float]:
    """The base of each step as the page gets it: the whole pipeline (framing, E25's vote on how the
    drawing was drawn, the composite) with the last base sent back; and the share of strokes after
    which the vote changed its mind."""
    runs, kind_changes, strokes_seen = [], 0, 0
    for seed, (item, _) in enumerate(validation_faces(source, people, bank_rejects=True)):
        strokes = freehand_strokes(prepared_geometry(source, item), 256, procedure, rng=seed)
        bases, kinds = [], []
        for count in range(len(strokes) // 2, len(strokes) + 1):
            prepared = preprocess_sketch(render(strokes[:count]), compose=True, composite="photo",
                                         keep_base=bases[-1] if bases else None)
            bases.append(prepared.base_face)
            kinds.append(prepared.how_drawn)
        kind_changes += sum(a != b for a, b in zip(kinds, kinds[1:]))
        strokes_seen += len(kinds) - 1
        runs.append(bases)
    return runs, kind_changes / max(strokes_seen, 1)


def sheet(source: Path, path: Path) -> None:
    """A drawing in progress | its composite, stateless | its composite, keeping the last base."""
    from PIL import Image

    from sketch2face.pipeline import SketchToFacePipeline

    pipe = SketchToFacePipeline("sketch2face-v5")
    item = prepared_items(source)[7]
    strokes = freehand_strokes(prepared_geometry(source, item), 256, "cartoon", rng=7)
    columns, kept = [], None
    for count in range(len(strokes) - 5, len(strokes) + 1):
        drawing = render(strokes[:count])
        stateless = next(pipe.run([drawing], keep_size=True)).face
        result = next(pipe.run([drawing], keep_size=True, keep_base=kept))
        kept = result.prepared.base_face
        cells = [np.repeat(drawing[:, :, None], 3, 2), np.asarray(stateless), np.asarray(result.face)]
        columns.append(np.concatenate([np.asarray(Image.fromarray(c).resize((160, 160))) for c in cells], 0))
    atomic = path.with_name(f".{path.name}.tmp")
    Image.fromarray(np.concatenate(columns, 1)).save(atomic, "JPEG", quality=88)
    atomic.replace(path)
    print(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, default=Path("cache/freehand-lfw"))
    parser.add_argument("--people", type=int, default=60)
    parser.add_argument("--procedures", nargs="+", default=[*TRAINING_PROCEDURES, *VALIDATION_PROCEDURES],
                        choices=TRAINING_PROCEDURES + VALIDATION_PROCEDURES)
    parser.add_argument("--sheet", type=Path, help="also write a contact sheet of one drawing in progress")
    args = parser.parse_args()
    if args.sheet:
        sheet(args.source, args.sheet)
    bank = compose.default_bank()
    candidates = compose.BASE_CANDIDATES
    print("| procedure | drawings | strokes | base | base changes per stroke | distinct finished faces |")
    print("|---|---|---|---|---|---|")
    for procedure in args.procedures:
        sequences = feature_sequences(args.source, args.people, procedure)
        rules = {}
        compose.BASE_CANDIDATES = 1
        rules["nearest"] = [[bank.choose(f)["base"] for f in steps] for steps in sequences]
        compose.BASE_CANDIDATES = candidates
        rules[f"seeded pick of {candidates}"] = [[bank.choose(f)["base"] for f in steps] for steps in sequences]
        kept = []
        for steps in sequences:
            bases = [bank.choose(steps[0])["base"]]
            for features in steps[1:]:
                bases.append(bank.choose(features, keep_base=bases[-1])["base"])
            kept.append(bases)
        rules[f"seeded pick of {candidates}, keeping the last"] = kept
        rules["the page: the pipeline with E25's vote, keeping the last"], kind_changes = page_bases(
            args.source, args.people, procedure)
        strokes = sum(len(s) - 1 for s in sequences)
        for rule, bases in rules.items():
            changes = sum(a != b for run in bases for a, b in zip(run, run[1:])) / strokes
            print(f"| {procedure} | {len(sequences)} | {strokes} | {rule} | {changes:.2f} | "
                  f"{len({run[-1] for run in bases})} |", flush=True)
        print(f"| {procedure} | | | (E25's vote changed how the drawing was drawn after {kind_changes:.2f} of strokes) | | |")


if __name__ == "__main__":
    main()
