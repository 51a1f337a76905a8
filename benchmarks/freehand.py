"""Freehand benchmark: drawings of people no model trained on, by a procedure no model trained on.

    python benchmarks/freehand.py --models sketch2face-v1 sketch2face-v2 [--compose sketch2face-v2] [--people 400] [--browser 40]

Test sets (each built once into cache/freehand-bench/, then reused):

- ``doodle``: ``data/freehand.py``'s test-only procedure (oval head, almond eyes, L-shaped nose, one
  mouth arc, zig-zag hair), drawn from the landmarks of LFW people T-Z, one photo per person.
  Training recipes only draw LFW people A-S and may not use the procedure (config check).
- ``strokes``: the same people drawn by the training procedure, to tell a new procedure from new people.
- ``photographed``: the doodles as a phone photographs them on paper under room light
  (``data.augment.photographed``: grey, unevenly lit paper, noise, blur, JPEG).
- ``scanned``: the doodles as a scanner reads them drawn in pencil on a large sheet: drawn at 2048 px
  with the procedure's pen widths in pixels (lines a few pixels wide, a fine pen at that size;
  ``FaceGeometry.scaled``), in graphite grey (darkest ink at grey 120: ``data.augment.in_pencil``).
- ``browser`` (with ``--browser N``): the first N doodles replayed with the mouse on the web page's
  canvas in headless Chromium (Playwright), saved from the canvas: what a visitor's strokes look like.

The held-out people come from a prepared folder (made once, about 2 minutes)::

    sketch2face prepare-data --photos ../shared/data/lfw --people T-Z --limit 800 --spread \\
        --styles doodle --out cache/freehand-heldout-lfw

For every model: FID and KID against the true photos, dlib identity rank-1 among the set's photos,
the share of outputs in which dlib finds a face, and a contact sheet (drawing | each model | photo).
Writes metrics.md, metrics.json and sheet-*.png per set to --output.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from sketch2face.data.augment import in_pencil, photographed
from sketch2face.data.freehand import draw_freehand, freehand_strokes, prepared_geometry
from sketch2face.data.manifest import read_manifest
from sketch2face.data.transforms import load_image, to_grayscale
from sketch2face.evaluate import (
    evaluate,
    generate_with_pipeline,
    markdown_table,
    resolve_eval_set,
    sketch_baseline,
)
from sketch2face.pipeline import SketchToFacePipeline

HELDOUT = Path("cache/freehand-heldout-lfw")
#: The ``scanned`` set: drawn this many times larger than the models' 256 px, darkest ink at this grey.
SCANNED_SCALE = 8
SCANNED_INK = 120


def one_photo_per_person(source: Path, people: int) -> list[dict]:
    manifest = read_manifest(source)
    if manifest is None:
        sys.exit(f"{source} is missing: prepare it first (see this script's docstring)")
    chosen: dict[str, dict] = {}
    for name in sorted(manifest):
        item = manifest[name]
        if "landmarks" in item and item["identity"] not in chosen:
            chosen[item["identity"]] = item
    return list(chosen.values())[:people]


def _seed(name: str) -> int:
    return int.from_bytes(hashlib.sha256(f"freehand-bench:{name}".encode()).digest()[:4], "big")


def build_set(source: Path, items: list[dict], procedure: str, out: Path) -> Path:
    """Photos and drawings in a paired folder; rebuilt only when the people or the procedure change."""
    stamp = {"procedure": procedure, "names": [i["name"] for i in items]}
    if (out / "set.json").is_file() and json.loads((out / "set.json").read_text()) == stamp:
        return out
    shutil.rmtree(out, ignore_errors=True)
    (out / "photos").mkdir(parents=True)
    (out / "sketches").mkdir()
    for item in items:
        shutil.copy(source / "photos" / f"{item['name']}.png", out / "photos" / f"{item['name']}.png")
        geometry = prepared_geometry(source, item)
        if procedure == "scanned":
            drawing = in_pencil(draw_freehand(geometry.scaled(SCANNED_SCALE), 256 * SCANNED_SCALE, "doodle",
                                              rng=_seed(item["name"])), SCANNED_INK)
        else:
            drawn_by = "doodle" if procedure == "photographed" else procedure
            drawing = draw_freehand(geometry, 256, drawn_by, rng=_seed(item["name"]))
        if procedure == "photographed":
            drawing = photographed(drawing, np.random.default_rng(_seed(item["name"])))
        Image.fromarray(drawing).save(out / "sketches" / f"{item['name']}.png")
    (out / "set.json").write_text(json.dumps(stamp) + "\n")
    return out


def build_browser_set(source: Path, items: list[dict], out: Path) -> Path:
    """Replay each doodle's strokes with the mouse on the real page and save the canvas."""
    stamp = {"procedure": "doodle-browser", "names": [i["name"] for i in items]}
    if (out / "set.json").is_file() and json.loads((out / "set.json").read_text()) == stamp:
        return out
    import base64
    import socket
    import tempfile
    import threading
    import time

    import uvicorn
    from playwright.sync_api import sync_playwright

    from sketch2face.serve.app import ServeSettings, create_app

    shutil.rmtree(out, ignore_errors=True)
    (out / "photos").mkdir(parents=True)
    (out / "sketches").mkdir()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(ServeSettings(data_dir=tempfile.mkdtemp())),
                                           host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    args = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        page.goto(f"http://127.0.0.1:{port}")
        page.wait_for_function("document.getElementById('model').options.length > 0")
        page.uncheck("#live")  # only the drawing is wanted: no preview work while replaying strokes
        canvas = page.locator("#sketch")
        for item in items:
            page.click("#clear")
            box = canvas.bounding_box()
            scale = box["width"] / 256
            for stroke in freehand_strokes(prepared_geometry(source, item), 256, "doodle", rng=_seed(item["name"])):
                width = max(1, round(stroke.width * 512 / 256))  # the canvas is 512 px, drawings 256
                page.evaluate("w => { document.getElementById('brush').value = w; }", width)
                x0, y0 = stroke.points[0]
                page.mouse.move(box["x"] + x0 * scale, box["y"] + y0 * scale)
                page.mouse.down()
                for x, y in stroke.points[1:]:
                    page.mouse.move(box["x"] + x * scale, box["y"] + y * scale)
                page.mouse.up()
            data_url = page.evaluate("document.getElementById('sketch').toDataURL('image/png')")
            (out / "sketches" / f"{item['name']}.png").write_bytes(base64.b64decode(data_url.split(",", 1)[1]))
            shutil.copy(source / "photos" / f"{item['name']}.png", out / "photos" / f"{item['name']}.png")
        browser.close()
    server.should_exit = True
    (out / "set.json").write_text(json.dumps(stamp) + "\n")
    return out


def contact_sheet(evalset, outputs: dict[str, list[np.ndarray]], path: Path, count: int = 8) -> None:
    """Rows of drawing | each model's face | true photo, with the model names on top."""
    from sketch2face.data.transforms import to_rgb

    picks = np.linspace(0, len(evalset.names) - 1, min(count, len(evalset.names))).round().astype(int)
    rows = []
    for i in picks:
        photo = to_rgb(load_image(evalset.photos[i]))
        drawing = np.repeat(to_grayscale(load_image(evalset.sketches[i]))[:, :, None], 3, 2)
        cells = [np.asarray(Image.fromarray(c).resize((192, 192))) for c in
                 [drawing, *[faces[i] for faces in outputs.values()], photo]]
        rows.append(np.concatenate(cells, axis=1))
    sheet = Image.fromarray(np.concatenate(rows, axis=0))
    from PIL import ImageDraw

    labelled = Image.new("RGB", (sheet.width, sheet.height + 18), "white")
    labelled.paste(sheet, (0, 18))
    draw = ImageDraw.Draw(labelled)
    for k, label in enumerate(["drawing", *outputs, "true photo"]):
        draw.text((k * 192 + 4, 3), label, fill="black")
    labelled.save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["sketch2face-v1"])
    parser.add_argument("--compose", nargs="*", default=[], metavar="MODEL",
                        help="also these models with composition from real face parts (sketch2face.compose)")
    parser.add_argument("--people", type=int, default=400)
    parser.add_argument("--sets", default="doodle,strokes", help="comma-separated: doodle, strokes, photographed, scanned")
    parser.add_argument("--browser", type=int, default=0, help="also N doodles drawn with the mouse in Chromium")
    parser.add_argument("--source", type=Path, default=HELDOUT)
    parser.add_argument("--output", type=Path, default=Path("docs/results/freehand"))
    args = parser.parse_args()

    items = one_photo_per_person(args.source, args.people)
    sets = [build_set(args.source, items, name, Path("cache/freehand-bench") / name)
            for name in args.sets.split(",") if name]
    if args.browser:
        sets.append(build_browser_set(args.source, items[:args.browser], Path("cache/freehand-bench/browser")))
    pipes = [SketchToFacePipeline(m, backend="torch") for m in args.models]
    for model in args.compose:
        pipes.append(SketchToFacePipeline(model, backend="torch", compose=True))
        pipes[-1].model_name += " (composed)"
    summary = []
    for folder in sets:
        evalset = resolve_eval_set(str(folder))
        evalset.groups = {"all": evalset.groups["all"]}
        outputs: dict[str, list[np.ndarray]] = {}

        def runner(pipe):
            def run():
                system = generate_with_pipeline(pipe, evalset, progress=False)
                outputs[pipe.model_name] = system.faces
                return system
            return run

        command = "python benchmarks/freehand.py " + " ".join(sys.argv[1:])
        report = evaluate(evalset, [lambda: sketch_baseline(evalset), *[runner(p) for p in pipes]],
                          args.output / folder.name, command=command, progress=False)
        contact_sheet(evalset, outputs, args.output / f"sheet-{folder.name}.png")
        summary.append(f"### {folder.name} ({len(evalset.names)} people)\n\n" + markdown_table(report))
        print(summary[-1], flush=True)
    (args.output / "metrics.md").write_text(
        f"Command: `python benchmarks/freehand.py {' '.join(sys.argv[1:])}`\n\n" + "\n".join(summary))


if __name__ == "__main__":
    main()
