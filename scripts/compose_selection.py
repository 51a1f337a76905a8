"""Choose how the composer works on validation drawings: people in neither the bank nor the freehand
benchmark, drawn by the training procedures, scored against their photos.

    # E15: the hubness correction (sketch2face.compose.HUB_WEIGHT) on UTKFace drawings
    sketch2face prepare-data --photos ../shared/data/utkface --limit 400 --spread \\
        --styles strokes --out cache/freehand-val-utk
    python scripts/compose_selection.py --hub-weights 0 0.5 1

    # E17: composing portraits (v4) or photos (v5), the base the nearest or one of the 10 nearest,
    # on LFW A-S photos the bank's gates rejected
    python scripts/compose_selection.py --source cache/freehand-lfw --bank-rejects \\
        --models sketch2face-v4 sketch2face-v5 --hub-weights 0.5 --base-candidates 1 10 --recognise-base

    # E20: the pool of base candidates, on drawings by the validation-only procedure
    python scripts/compose_selection.py --source cache/freehand-lfw --bank-rejects --procedures cartoon \\
        --models sketch2face-v5 --hub-weights 0.5 --base-candidates 1 10 20 40

    # E24: drawings without the person's outline (the procedures' own branch for a photo without a
    # silhouette: no hair or shoulder outline; cartoon draws a generic cap of hair instead)
    python scripts/compose_selection.py --source cache/freehand-lfw --bank-rejects --procedures cartoon \\
        --no-outline --models sketch2face-v6 --hub-weights 0.5 --base-candidates 10

    # E29: drawings scanned large in pencil (lines strengthened before they are judged and matched)
    python scripts/compose_selection.py --source cache/freehand-lfw --bank-rejects --procedures cartoon \\
        --models sketch2face-v6 --hub-weights 0.5 --scale 8 --ink 120

    # E32: a larger bank (built to OTHER.npz by scripts/build_exemplar_bank.py --output), on drawings with and
    # without the outline, by the validation-only and by the training procedures
    python scripts/compose_selection.py --source cache/freehand-lfw --bank-rejects --procedures cartoon \
        --models sketch2face-v6 --hub-weights 0.5 [--no-outline] [--bank OTHER.npz]

    # E27: each part the best lit of its 1, 3, 5 or 10 nearest drawn parts (compose.PART_CANDIDATES)
    python scripts/compose_selection.py --source cache/freehand-lfw --bank-rejects --procedures cartoon \
        --models sketch2face-v6 --hub-weights 0.5 --base-candidates 10 --part-candidates 1 3 5 10

(HUB_WEIGHT 0 is composing as it was before the correction; BASE_CANDIDATES 1 takes the nearest
base, as before E17.) Prints a Markdown table per model, weight and number of base candidates: FID and KID on the whole frame and on the face (rows 48-240, columns 32-224 of the aligned
frame, where alignment padding rarely reaches), how many distinct base faces the drawings chose,
how far the chosen bases' outline and hair are from the drawing's (the mean "rest" feature distance:
what a larger candidate pool costs in following the drawing), the same for the chosen eyes, nose and
mouth (the mean squared feature distance per part of each chosen part's drawing to the drawing's: what
choosing parts by their lighting costs), the share of drawings matched as a face
drawn alone (``compose.ExemplarBank.how_drawn``: "face" or "enlarged face"), and with --recognise-base the share of faces dlib takes for their base bank person (distance < 0.6):
the hair, outline and background of a composite are the base face's.
"""
import argparse
import dataclasses
import hashlib
import itertools
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

import sketch2face.compose as compose
from build_exemplar_bank import usable
from sketch2face.data.augment import in_pencil
from sketch2face.data.freehand import TRAINING_PROCEDURES, VALIDATION_PROCEDURES, draw_freehand, prepared_geometry, prepared_items
from sketch2face.data.sketch import line_sketch
from sketch2face.data.transforms import load_image, to_rgb
from sketch2face.fid import fid_from_features, inception_features, kid_from_features
from sketch2face.fidelity import distance_field, part_features
from sketch2face.identity import embed_face, retrieval_ranks
from sketch2face.pipeline import SketchToFacePipeline

#: The face in the aligned 256x256 frame: below the top of the hair, inside the shoulders.
FACE_BOX = (32, 48, 224, 240)


def validation_faces(source: Path, people: int, bank_rejects: bool) -> list[tuple[dict, np.ndarray]]:
    """``people`` prepared items of ``source`` with their photos, evenly spread; with ``bank_rejects``
    only photos that fail the bank's gates (so none is a bank face)."""
    candidates = []
    for item in prepared_items(source):
        photo = to_rgb(load_image(source / "photos" / f"{item['name']}.png"))
        if not bank_rejects or not usable(photo, line_sketch(photo), np.asarray(item["landmarks"], np.float32)):
            candidates.append((item, photo))
    picks = np.linspace(0, len(candidates) - 1, min(people, len(candidates))).round().astype(int)
    return [candidates[pick] for pick in picks]


def drawings_and_photos(source: Path, people: int, bank_rejects: bool,
                        procedures: tuple[str, ...] = TRAINING_PROCEDURES,
                        outline: bool = True, scale: int = 1, ink: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """One drawing per ``validation_faces`` photo by ``procedures`` in turn, seeded by the photo's name;
    without ``outline``, drawn as if the photo had no silhouette (no hair or shoulder outline); drawn
    ``scale`` times larger with the same pens (a fine pen on a large scan) and its darkest ink at grey ``ink``
    (a pencil)."""
    drawings, photos = [], []
    for index, (item, photo) in enumerate(validation_faces(source, people, bank_rejects)):
        seed = int.from_bytes(hashlib.sha256(f"compose-selection:{item['name']}".encode()).digest()[:4], "big")
        procedure = procedures[index % len(procedures)]
        geometry = prepared_geometry(source, item)
        if not outline:
            geometry = dataclasses.replace(geometry, silhouette=None)
        drawing = draw_freehand(geometry.scaled(scale) if scale > 1 else geometry, 256 * scale, procedure, rng=seed)
        drawings.append(in_pencil(drawing, ink) if ink else drawing)
        photos.append(photo)
    return drawings, photos


def face_crops(images: list[np.ndarray]) -> list[np.ndarray]:
    return [np.asarray(Image.fromarray(i).resize((256, 256)).crop(FACE_BOX).resize((256, 256), Image.BICUBIC))
            for i in images]


def recognised_as_base(faces: list[np.ndarray], bases: list[int], bank: compose.ExemplarBank) -> float:
    base_vectors = {b: embed_face(bank.photo(b)).vector for b in set(bases)}
    return float(np.mean([np.linalg.norm(embed_face(f).vector - base_vectors[b]) < 0.6 for f, b in zip(faces, bases)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, default=Path("cache/freehand-val-utk"))
    parser.add_argument("--bank-rejects", action="store_true", help="only photos the bank's gates rejected")
    parser.add_argument("--people", type=int, default=400)
    parser.add_argument("--procedures", nargs="+", default=list(TRAINING_PROCEDURES),
                        choices=TRAINING_PROCEDURES + VALIDATION_PROCEDURES,
                        help="drawing procedures, in turn (never the test-only doodle)")
    parser.add_argument("--no-outline", action="store_true",
                        help="draw without the person's silhouette: no hair or shoulder outline")
    parser.add_argument("--scale", type=int, default=1,
                        help="draw this many times larger than 256 px with the same pens (a fine pen on a large scan)")
    parser.add_argument("--ink", type=int, default=0, help="the drawings' darkest ink at this grey level (a pencil)")
    parser.add_argument("--models", nargs="+", default=["sketch2face-v4"])
    parser.add_argument("--hub-weights", nargs="+", type=float, default=[0.0, 0.5, 1.0])
    parser.add_argument("--base-candidates", nargs="+", type=int, default=[compose.BASE_CANDIDATES])
    parser.add_argument("--base-part-weights", nargs="+", type=float, default=[compose.BASE_PART_WEIGHT],
                        help="weight of the drawn parts in the base's choice (compose.BASE_PART_WEIGHT)")
    parser.add_argument("--part-candidates", nargs="+", type=int, default=[compose.PART_CANDIDATES],
                        help="each part the best lit of this many nearest drawn parts (1: the nearest)")
    parser.add_argument("--geometry-weights", nargs="+", type=float, default=[compose.GEOMETRY_WEIGHT],
                        help="how far the composite follows the drawn proportions (compose.GEOMETRY_WEIGHT)")
    parser.add_argument("--recognise-base", action="store_true")
    parser.add_argument("--outline-only", action="store_true",
                        help="match every drawing as drawn with the person's outline (the composer before E25)")
    parser.add_argument("--sheet", type=Path, help="write a contact sheet: drawing | each row's face | photo")
    parser.add_argument("--bank", type=Path, default=compose.BANK_FILE,
                        help="compose from this bank (scripts/build_exemplar_bank.py --output) instead of the shipped one")
    args = parser.parse_args()
    drawings, photos = drawings_and_photos(args.source, args.people, args.bank_rejects, tuple(args.procedures),
                                           outline=not args.no_outline, scale=args.scale, ink=args.ink)
    real, real_faces = inception_features(photos), inception_features(face_crops(photos))
    true_identities = np.stack([embed_face(photo).vector for photo in photos])
    compose.BANK_FILE = args.bank  # the pipeline composes from default_bank()
    compose.default_bank.cache_clear()
    bank = compose.default_bank()
    if bank.appearance is None and max(args.part_candidates) > 1:  # a bank built before E27
        looks = [compose.part_appearance(bank.photo(i), bank.landmarks[i]) for i in range(len(bank))]
        bank.appearance = {part: np.stack([look[part] for look in looks]) for part in compose.PART_LANDMARKS}
    if args.outline_only:
        for key in (compose.REST_WITHOUT_OUTLINE, compose.REST_WITHOUT_OUTLINE_AS_FRAMED):
            bank.features.pop(key, None)
    print(f"{len(drawings)} drawings of {args.source}{' (bank rejects)' if args.bank_rejects else ''} "
          f"by {', '.join(args.procedures)}{', without the outline' if args.no_outline else ''}"
          f"{f', at {256 * args.scale} px' if args.scale > 1 else ''}{f', ink at grey {args.ink}' if args.ink else ''}\n")
    print("| model | HUB_WEIGHT | BASE_CANDIDATES | PART_CANDIDATES | BASE_PART_WEIGHT | GEOMETRY_WEIGHT | FID | KID | face FID "
          "| face KID | rank-1 | rank-5 | median rank | distinct bases | most used base | outline distance | part distance "
          "| matched without outline | recognised as base |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    pipes = {model: SketchToFacePipeline(model, backend="torch") for model in args.models}
    faces_of: dict[str, list[np.ndarray]] = {}
    for model, hub_weight, candidates, part_candidates, part_weight, geometry_weight in itertools.product(
            args.models, args.hub_weights, args.base_candidates, args.part_candidates, args.base_part_weights,
            args.geometry_weights):
        pipe = pipes[model]
        compose.HUB_WEIGHT, compose.BASE_CANDIDATES, compose.PART_CANDIDATES = hub_weight, candidates, part_candidates
        compose.BASE_PART_WEIGHT, compose.GEOMETRY_WEIGHT = part_weight, geometry_weight
        results = list(pipe.run(drawings, keep_size=True))
        faces = [np.asarray(r.face.resize((256, 256), Image.BICUBIC)) for r in results]  # drawn at 256 * scale
        faces_of[f"{model}, {hub_weight:g}, {candidates}, {part_candidates}, {part_weight:g}, {geometry_weight:g}"] = faces
        bases = [r.prepared.base_face for r in results]
        with_outline = [r.prepared.how_drawn == "outline" for r in results]
        # the drawing as composed (framed as a head with hair, or as a face alone) against its base's drawing
        framed = [((r.prepared.values[0] + 1) * 127.5).round().astype(np.uint8) for r in results]
        drawn = [part_features(distance_field(f)) for f in framed]
        outline_distance = np.mean([bank.rest_distances(d, o)[b] for d, o, b in zip(drawn, with_outline, bases)])
        # how far the chosen eyes, nose and mouth are drawn from the drawing's (the pipeline's choice again)
        chosen = [bank.choose(d, outline=o) for d, o in zip(drawn, with_outline)]
        part_distance = np.mean([bank.distances(d, names)[faces[part]] / len(names)
                                 for d, faces in zip(drawn, chosen) for part, names in compose.PART_FEATURES.items()])
        fake, fake_faces = inception_features(faces), inception_features(face_crops(faces))
        scores = [fid_from_features(fake, real), kid_from_features(fake, real)[0],
                  fid_from_features(fake_faces, real_faces), kid_from_features(fake_faces, real_faces)[0]]
        ranks = retrieval_ranks(np.stack([embed_face(face).vector for face in faces]), true_identities)
        recognised = f"{recognised_as_base(faces, bases, bank):.1%}" if args.recognise_base else ""
        counts = Counter(bases)
        print(f"| {model} | {hub_weight:g} | {candidates} | {part_candidates} | {part_weight:g} | {geometry_weight:g} "
              f"| {scores[0]:.1f} | {scores[1]:.4f} | {scores[2]:.1f} | {scores[3]:.4f} "
              f"| {np.mean(ranks <= 1):.1%} | {np.mean(ranks <= 5):.1%} | {np.median(ranks):.0f} "
              f"| {len(counts)} | {counts.most_common(1)[0][1]} | {outline_distance:.2f} | {part_distance:.2f} "
              f"| {1 - np.mean(with_outline):.1%} | {recognised} |", flush=True)
    if args.sheet:
        write_sheet(args.sheet, drawings, faces_of, photos)


def write_sheet(path: Path, drawings: list[np.ndarray], faces_of: dict[str, list[np.ndarray]],
                photos: list[np.ndarray], count: int = 8, cell: int = 192) -> None:
    from sketch2face.outputs import contact_sheet, save_image

    cells, labels = [], []
    for i in np.linspace(0, len(drawings) - 1, min(count, len(drawings))).round().astype(int):
        row = [np.repeat(drawings[i][:, :, None], 3, 2), *[faces[i] for faces in faces_of.values()], photos[i]]
        cells += [Image.fromarray(image).resize((cell, cell)) for image in row]
        labels += ["drawing", *faces_of, "true photo"]
    columns = len(faces_of) + 2
    save_image(contact_sheet(cells, labels, max_width=columns * (cell + 8) - 8), path,
               "compose_selection.py: drawing | each configuration's face | true photo")


if __name__ == "__main__":
    main()
