"""Command line: ``sketch2face <subcommand>``. Parses arguments and calls the library; no logic here."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Callable

from .backends import BACKENDS, PRECISIONS
from .data.transforms import InputImageError

#: Every subcommand: name -> (add_parser keywords, the function declaring its arguments, the function
#: running it). ``@command`` fills it beside each command; ``build_parser`` only reads it.
COMMANDS: dict[str, tuple[dict, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {}


def command(name: str, arguments: Callable[[argparse.ArgumentParser], None] = lambda p: None, **options):
    """Register ``sketch2face NAME``: ``options`` go to ``add_parser`` (help, description),
    ``arguments(parser)`` declares its arguments."""
    def register(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
        COMMANDS[name] = (options, arguments, run)
        return run
    return register


def _add_backend_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", choices=BACKENDS, default="auto",
                   help="inference engine: ONNX Runtime when installed and exported (auto), or PyTorch")
    p.add_argument("--precision", choices=sorted({p for ps in PRECISIONS.values() for p in ps}), default=None,
                   help="fp32 (default); bf16 autocast with torch; int8 (static quantisation) with onnx")


def _train_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="YAML recipe (see configs/); defaults apply where silent")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a config value, e.g. train.batch_size=4 (repeatable)")
    p.add_argument("--max-minutes", type=float, help="wall-clock budget; ends with a checkpoint")
    p.add_argument("--output-dir", help="parent folder of run folders (default: runs)")
    p.add_argument("--resume", type=Path, help="run folder or checkpoint to continue exactly")
    p.add_argument("--continue-from", metavar="RUN_OR_RELEASE",
                   help="start a new part of a long run: from a run folder's full checkpoint when it exists, "
                        "else from a release or bundled model (EMA generator + discriminator weights)")
    p.add_argument("-n", "--dry-run", action="store_true", help="print the resolved config and exit")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


@command("train", help="train a generator on paired sketch/photo folders",
         description="Train a conditional GAN. Examples:\n"
                     "  sketch2face train --config configs/sketch2face_v1.yaml          # the default's portrait model\n"
                     "  sketch2face train --config configs/sketch2face_v1.yaml --set train.lr=1e-4 --max-minutes 30\n"
                     "  sketch2face train --resume runs/00003-sketch2face-v1",
         arguments=_train_arguments)
def _cmd_train(args: argparse.Namespace) -> int:
    from .config import ConfigError, load_config
    from .train import resumed_run, train

    overrides = list(args.set or [])
    if args.max_minutes is not None:
        overrides.append(f"train.max_minutes={args.max_minutes}")
    if args.output_dir is not None:
        overrides.append(f"output_dir={args.output_dir}")
    config_path = args.config
    if config_path is None and args.resume is not None:
        # resuming without --config continues with the run's own resolved config (JSON is YAML)
        config_path = resumed_run(args.resume)[0] / "config.json"
    try:
        config = load_config(config_path, overrides)
    except ConfigError as error:
        print(f"sketch2face train: {error}", file=sys.stderr)
        return 2
    if args.dry_run:
        import json
        from .config import config_to_dict

        print(json.dumps(config_to_dict(config), indent=2))
        return 0
    try:
        run_dir = train(config, resume=args.resume, progress=not args.quiet, continue_from=args.continue_from)
    except ConfigError as error:
        print(f"sketch2face train: {error}", file=sys.stderr)
        return 2
    print(f"run folder: {run_dir}\nrelease (best EMA generator): {run_dir / 'release'}")
    return 0


def _input_error_line(path: Path, error: Exception) -> str:
    """One line naming the input: errors from a path already name it, others get it prefixed."""
    return str(error) if str(path) in str(error) else f"{path}: {error}"


def _progress(total: int, quiet: bool, unit: str):
    """A progress bar (``main`` makes every command quiet when stderr is not a terminal)."""
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, disable=quiet or not total)


def _write(save, path: Path) -> None:
    """Run an atomic save; an operating-system error becomes one ``OutputError`` line naming the file."""
    from .outputs import OutputError

    try:
        save()
    except OutputError:
        raise
    except OSError as error:
        raise OutputError(f"{path}: cannot write ({error.strerror or error})") from None


def _batch_inputs(command: str, args: argparse.Namespace):
    """Expand the inputs and make the output folder: (files, error lines), or the exit code after
    printing why nothing can be done (1: no inputs, 2: no usable output folder); then no model is
    loaded and no folder is made."""
    from .outputs import OutputError, ensure_folder, expand_inputs

    files, errors = expand_inputs(args.inputs)
    for line in errors:
        print(f"error: {line}", file=sys.stderr)
    if not files:
        print("nothing written: no input images", file=sys.stderr)
        return 1
    try:
        ensure_folder(args.output)
        if getattr(args, "sheet", None) is not None:
            ensure_folder(args.sheet.parent)
    except OutputError as error:
        print(f"sketch2face {command}: {error}", file=sys.stderr)
        return 2
    return files, errors


def _open_pipeline(command: str, pipeline_class, model, args: argparse.Namespace):
    """Build a pipeline with the command's --backend/--precision; on a bad model or backend print one
    line and return None (the caller exits with 2)."""
    from .backends import BackendUnavailableError
    from .io import ModelNotFoundError

    try:
        return pipeline_class(model, precision=args.precision, backend=args.backend)
    except (ModelNotFoundError, BackendUnavailableError, ValueError) as error:
        print(f"sketch2face {command}: {error}", file=sys.stderr)
        return None


def _generate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", help="image files, folders (searched recursively) or glob patterns")
    p.add_argument("-o", "--output", type=Path, required=True,
                   help="folder for OUTPUT/<input's path inside the named folder>.<format>; never over an input")
    p.add_argument("--model", default=None,
                   help="bundled model name or release folder (default: the bundled default model)")
    p.add_argument("--format", choices=["png", "jpg", "jpeg"], default="png")
    p.add_argument("--side-by-side", action="store_true", help="write the sketch beside the face")
    p.add_argument("--sheet", type=Path,
                   help="also write one contact sheet of all sketch/face pairs, in a grid with names (.png or .jpg)")
    p.add_argument("--keep-size", action="store_true",
                   help="resize the face back to the input's frame instead of the model's resolution")
    p.add_argument("--fidelity", type=float, default=1.0,
                   help="1 (default): follow the strokes exactly; towards 0: each face part moves to the most "
                        "plausible training drawing near the strokes (line drawings; see docs/freehand.md)")
    p.add_argument("--compose", action=argparse.BooleanOptionalAction, default=None,
                   help="line drawings: compose a face from real face parts that look like the drawn ones "
                        "(a face with skin and hair; see docs/freehand.md), as a photo or as a pencil portrait "
                        "the model renders, as the model says. Default: what the model says (the default "
                        "model composes; --no-compose fills the strokes in with the line model)")
    p.add_argument("--variation", type=int, default=0,
                   help="with --compose: 0 takes the best face parts, N the N-th next (another face)")
    p.add_argument("--no-align", action="store_true",
                   help="do not bring a small or off-centre drawing to the model's framing (pad it as it is)")
    p.add_argument("--batch-size", type=int, default=8)
    _add_backend_arguments(p)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


@command("generate", help="turn sketches into face photos",
         description="Examples:\n"
                     "  sketch2face generate sketch.png --output faces/\n"
                     "  sketch2face generate sketches/ 'more/*.jpg' --output faces/ --side-by-side --format jpg",
         arguments=_generate_arguments)
def _cmd_generate(args: argparse.Namespace) -> int:
    from .outputs import OutputError, OutputFolder, contact_sheet, save_generated, side_by_side
    from .pipeline import SketchToFacePipeline

    if args.batch_size < 1:
        print("sketch2face generate: --batch-size must be at least 1", file=sys.stderr)
        return 2
    if not 0.0 <= args.fidelity <= 1.0:
        print(f"sketch2face generate: --fidelity must be between 0 and 1, got {args.fidelity}", file=sys.stderr)
        return 2
    if args.variation < 0:
        print(f"sketch2face generate: --variation must be 0 or more, got {args.variation}", file=sys.stderr)
        return 2
    if args.sheet is not None and args.sheet.suffix.lower().lstrip(".") not in ("png", "jpg", "jpeg"):
        print(f"sketch2face generate: --sheet {args.sheet}: name a .png or .jpg file", file=sys.stderr)
        return 2
    found = _batch_inputs("generate", args)
    if isinstance(found, int):
        return found
    files, errors = found
    pipe = _open_pipeline("generate", SketchToFacePipeline, args.model, args)
    if pipe is None:
        return 2
    pipe.align, pipe.fidelity = not args.no_align, args.fidelity
    if args.compose is not None:
        pipe.compose = args.compose
    print(f"model: {pipe.model_name} ({pipe.model_dir}; {pipe.backend_name} {pipe.precision})", file=sys.stderr)
    folder = OutputFolder(args.output, args.format, files)
    sheet_cells, sheet_labels = [], []
    written = 0
    with _progress(len(files), args.quiet, "image") as bar:
        results = pipe.run((f.path for f in files), keep_size=args.keep_size, batch_size=args.batch_size,
                           variation=args.variation)
        for item, result in zip(files, results):
            bar.update(1)
            try:
                if result.error is not None:
                    raise result.error
                target, renamed = folder.target(item)
                image = side_by_side(result.prepared.greyscale, result.face) if args.side_by_side else result.face
                _write(lambda: save_generated(image, target, pipe.model_name, args.format), target)
            except (OutputError, InputImageError) as error:
                message = _input_error_line(item.path, error)
                bar.write(f"error: {message}", file=sys.stderr)
                errors.append(message)
                continue
            if renamed:
                bar.write(f"note: {item.path} -> {target} (the name was taken by another input)", file=sys.stderr)
            if args.sheet:
                sheet_cells.append(image if args.side_by_side else side_by_side(result.prepared.greyscale, result.face))
                sheet_labels.append(str(item.relative))
            written += 1
    if args.sheet and sheet_cells:
        try:
            _write(lambda: save_generated(contact_sheet(sheet_cells, sheet_labels), args.sheet, pipe.model_name),
                   args.sheet)
            print(f"sheet: {args.sheet}", file=sys.stderr)
        except OutputError as error:
            print(f"error: {error}", file=sys.stderr)
            errors.append(str(error))
    print(f"wrote {written} face(s) to {args.output}" + (f"; {len(errors)} input(s) failed" if errors else ""),
          file=sys.stderr)
    return 1 if errors else 0


def _evaluate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default="cufs-test", help="cufs-test or a folder with photos/ and sketches/")
    p.add_argument("--split", choices=["all", "val", "train"], default="all",
                   help="val: only the pairs training holds out (same rule as `train`: --val-fraction, --split-seed)")
    p.add_argument("--val-fraction", type=float, default=0.08)
    p.add_argument("--split-seed", type=int, default=0)
    p.add_argument("--model", default=None, help="bundled model name or release folder (default: the default model)")
    p.add_argument("--baseline", action="append", help="another model to score in the same table (repeatable)")
    p.add_argument("--generated", action="append", help="folder of faces made elsewhere, named like the sketches")
    p.add_argument("--no-sketch-baseline", action="store_true", help="omit the raw-sketch row")
    p.add_argument("--no-fid", action="store_true", help="skip FID/KID (Inception)")
    p.add_argument("--no-identity", action="store_true", help="skip identity metrics (dlib)")
    p.add_argument("-o", "--output", type=Path, default=Path("out/eval"))
    p.add_argument("--batch-size", type=int, default=8)
    _add_backend_arguments(p)
    p.add_argument("--no-record-command", dest="record_command", action="store_false",
                   help="do not write the command line into metrics.md")
    p.add_argument("-q", "--quiet", action="store_true")


@command("evaluate", help="score a model (and baselines) against true photos",
         description="Writes OUTPUT/metrics.json, metrics.md and grid.png (sketch | faces | photo). Examples:\n"
                     "  sketch2face evaluate --data cufs-test --output out/eval\n"
                     "  sketch2face evaluate --data my_pairs/ --model runs/00003-x/release --baseline baselines/pix2pix-cufs\n"
                     "  sketch2face evaluate --data cufs-test --generated other_system_faces/",
         arguments=_evaluate_arguments)
def _cmd_evaluate(args: argparse.Namespace) -> int:
    import shlex

    from .data.datasets import DatasetError
    from .evaluate import evaluate, generate_with_pipeline, load_generated, resolve_eval_set, sketch_baseline
    from .fid import MetricUnavailableError
    from .pipeline import SketchToFacePipeline

    try:
        evalset = resolve_eval_set(args.data, args.split, args.val_fraction, args.split_seed)
    except DatasetError as error:
        print(f"sketch2face evaluate: {error}", file=sys.stderr)
        return 2
    systems = []
    if not args.no_sketch_baseline:
        systems.append(lambda: sketch_baseline(evalset))
    models = ([] if args.generated and not args.model else [args.model]) + list(args.baseline or [])
    for name in models:
        pipe = _open_pipeline("evaluate", SketchToFacePipeline, name, args)
        if pipe is None:
            return 2
        systems.append(lambda pipe=pipe: generate_with_pipeline(pipe, evalset, args.batch_size, not args.quiet))
    for folder in args.generated or []:
        systems.append(lambda folder=folder: load_generated(Path(folder), evalset))
    command = "sketch2face " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if args.record_command else None
    try:
        evaluate(evalset, systems, args.output, with_fid=not args.no_fid,
                 with_identity=not args.no_identity, progress=not args.quiet, command=command)
    except (DatasetError, MetricUnavailableError) as error:
        print(f"sketch2face evaluate: {error}", file=sys.stderr)
        return 2
    print((args.output / "metrics.md").read_text())
    print(f"wrote {args.output}/metrics.json, metrics.md, grid.png", file=sys.stderr)
    return 0


def _sketchify_arguments(p: argparse.ArgumentParser) -> None:
    from .data.sketch import STYLE_ALIASES, STYLES

    p.add_argument("inputs", nargs="+", help="photo files, folders (searched recursively) or glob patterns")
    p.add_argument("-o", "--output", type=Path, required=True)
    p.add_argument("--style", default=None,
                   help=f"procedural style ({', '.join([*STYLES, *STYLE_ALIASES])}; default line) or, with "
                        "--model, one of the model's styles (see `sketch2face models`)")
    p.add_argument("--seed", type=int, default=None,
                   help="draw random style parameters (input i uses seed+i); default: the style's defaults")
    p.add_argument("--align", action="store_true", help="align faces to the canonical 256x256 geometry first")
    p.add_argument("--model", default=None,
                   help="a trained photo -> sketch model (bundled name or release folder) instead of --style")
    _add_backend_arguments(p)
    p.add_argument("-q", "--quiet", action="store_true")


@command("sketchify", help="make synthetic sketches from photos (procedural styles)",
         description="Styles: line (pencil dodge), greyscale and colour (shaded), xdog (line drawing), pen\n"
                     "(thin canvas-like strokes), canny (edge-enhanced). Examples:\n"
                     "  sketch2face sketchify photos/ --output sketches/ --style pen --align\n"
                     "  sketch2face sketchify face.jpg --output out/ --style xdog --seed 3",
         arguments=_sketchify_arguments)
def _cmd_sketchify(args: argparse.Namespace) -> int:
    import warnings

    from PIL import Image

    from .data.sketch import STYLE_ALIASES, STYLES, synthesize_sketch
    from .data.transforms import load_image, to_rgb
    from .outputs import OutputError, OutputFolder, save_image

    reverse = None
    if args.model:
        from .pipeline import PhotoToSketchPipeline

        reverse = _open_pipeline("sketchify", PhotoToSketchPipeline, args.model, args)
        if reverse is None:
            return 2
        try:
            reverse.style_index(args.style)
        except ValueError as error:
            print(f"sketch2face sketchify: {error}", file=sys.stderr)
            return 2
        description = f"AI-generated sketch made by sketch2face from a photo (model: {reverse.model_name}" + \
            (f", style {args.style})" if args.style else ")")
    else:
        args.style = args.style or "line"
        if args.style not in (*STYLES, *STYLE_ALIASES):
            print(f"sketch2face sketchify: unknown style {args.style!r}; choose one of {', '.join([*STYLES, *STYLE_ALIASES])} "
                  "(or a trained model's style with --model)", file=sys.stderr)
            return 2
        if STYLE_ALIASES.get(args.style, args.style) == "hed":
            from .data.hed import HEDUnavailableError, check_available

            try:
                check_available()
            except HEDUnavailableError as error:
                print(f"sketch2face sketchify: {error}", file=sys.stderr)
                return 2
        description = f"Synthetic sketch (style {args.style}) made by sketch2face from a photo"
    found = _batch_inputs("sketchify", args)
    if isinstance(found, int):
        return found
    files, errors = found
    folder = OutputFolder(args.output, "png", files)
    written = 0
    with _progress(len(files), args.quiet, "image") as bar:
        for index, item in enumerate(files):
            bar.update(1)
            try:
                if args.align:
                    from .data.align import align_face

                    with warnings.catch_warnings(record=True) as caught:
                        warnings.simplefilter("always")
                        photo = align_face(item.path, kind="photo").image
                    for warning in caught:
                        bar.write(f"warning: {item.path}: {warning.message}", file=sys.stderr)
                else:
                    photo = to_rgb(load_image(item.path))
                target, renamed = folder.target(item)
                if reverse is not None:
                    sketch_image = reverse(photo, keep_size=True, style=args.style)
                else:
                    seed = None if args.seed is None else args.seed + index
                    sketch_image = Image.fromarray(synthesize_sketch(photo, args.style, seed=seed))
                _write(lambda: save_image(sketch_image, target, description), target)
            except (InputImageError, OutputError) as error:
                message = _input_error_line(item.path, error)
                bar.write(f"error: {message}", file=sys.stderr)
                errors.append(message)
                continue
            if renamed:
                bar.write(f"note: {item.path} -> {target} (the name was taken by another input)", file=sys.stderr)
            written += 1
    kind = args.style
    if reverse is not None:
        kind = f"model {reverse.model_name}" + (f", style {args.style}" if args.style else "")
    print(f"wrote {written} sketch(es) ({kind}) to {args.output}" + (f"; {len(errors)} failed" if errors else ""),
          file=sys.stderr)
    return 1 if errors else 0


def _prepare_data_arguments(p: argparse.ArgumentParser) -> None:
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--paired", type=Path, help="folder with photos/ and sketches/ (FS2K annotations read)")
    source.add_argument("--photos", type=Path, nargs="+", help="folders of unpaired photos (sketches synthesised)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--fidelity", type=float, default=1.0,
                   help="1 (default): follow the strokes exactly; towards 0: each face part moves to the most "
                        "plausible training drawing near the strokes (line drawings; see docs/freehand.md)")
    p.add_argument("--no-align", action="store_true", help="pad and resize instead of aligning landmarks")
    p.add_argument("--styles", default="line,xdog,pen",
                   help="synthetic styles for unpaired photos, comma-separated: photo-based (line, greyscale, "
                        "colour, xdog, pen, hed, canny) or freehand drawings from landmarks (strokes, sketchy; "
                        "doodle is for testing only)")
    p.add_argument("--people", help="unpaired photos only: identities starting with these letters, e.g. A-S")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=int, help="only the first N items (sorted by name)")
    p.add_argument("--spread", action="store_true", help="with --limit: N items spread evenly over the set")
    p.add_argument("-q", "--quiet", action="store_true")


@command("prepare-data", help="align and cache a dataset (paired, or photos with synthetic sketches)",
         description="Writes OUT/photos, OUT/sketches and OUT/manifest.json; a second run reuses the cache.\n"
                     "Examples:\n"
                     "  sketch2face prepare-data --paired ../shared/data/fs2k/train --out cache/fs2k\n"
                     "  sketch2face prepare-data --photos ../shared/data/lfw --out cache/lfw --styles line,xdog,pen\n"
                     "  sketch2face prepare-data --photos ../shared/data/lfw --people A-S --styles strokes,sketchy "
                     "--out cache/freehand-lfw",
         arguments=_prepare_data_arguments)
def _cmd_prepare_data(args: argparse.Namespace) -> int:
    from .data.datasets import DatasetError
    from .data.prepare import PrepareOptions, prepare_dataset

    styles = tuple(s.strip() for s in args.styles.split(",") if s.strip())
    if args.size < 16 or args.size % 16:
        print("sketch2face prepare-data: --size must be a multiple of 16", file=sys.stderr)
        return 2
    options = PrepareOptions(size=args.size, align=not args.no_align, styles=styles, seed=args.seed, limit=args.limit,
                             spread=args.spread, people=args.people)
    try:
        report = prepare_dataset(args.out, paired=args.paired, photos=args.photos, options=options,
                                 progress=not args.quiet)
    except DatasetError as error:
        print(f"sketch2face prepare-data: {error}", file=sys.stderr)
        return 2
    print(f"{args.out}: {report.written} item(s) written, {report.reused} reused from the cache, "
          f"{len(report.no_face)} without a detected face (centre framing), {len(report.failed)} unreadable "
          f"(skipped), {len(report.unpaired)} without a partner (skipped), {len(report.size_mismatch)} with "
          "photo and sketch of different sizes (kept, aligned separately)", file=sys.stderr)
    for label, lines in (("error", report.failed), ("skipped", report.unpaired), ("note", report.size_mismatch)):
        for line in lines[:20]:
            print(f"{label}: {line}", file=sys.stderr)
        if len(lines) > 20:
            print(f"{label}: ... and {len(lines) - 20} more", file=sys.stderr)
    return 1 if report.failed else 0


def _serve_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--model", default=None, help="default model (bundled name or release folder)")
    p.add_argument("--data-dir", type=Path, default=Path("serve-data"), help="database and history images")
    p.add_argument("--database-url", default=None, help="SQLAlchemy URL (default: SQLite in --data-dir)")
    p.add_argument("--secure-cookies", action="store_true", help="mark cookies Secure (when served over HTTPS)")
    p.add_argument("--generations-per-minute", type=int, default=60,
                   help="per client address and worker; more get 429 with Retry-After")
    p.add_argument("--workers", type=int, default=1,
                   help="worker processes (each loads the model; they share the database: SQLite in WAL mode, "
                        "or PostgreSQL with --database-url postgresql://...)")


@command("serve", help="run the web app (drawing canvas, REST API, accounts)",
         arguments=_serve_arguments)
def _cmd_serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from .serve.app import ServeSettings, create_app
    except ImportError as error:
        print(f"sketch2face serve: the web app needs its extra: pip install 'sketch2face[serve]' ({error})",
              file=sys.stderr)
        return 2
    from .io import ModelNotFoundError, resolve_model_dir

    try:
        resolve_model_dir(args.model)
    except ModelNotFoundError as error:
        print(f"sketch2face serve: {error}", file=sys.stderr)
        return 2
    if args.workers < 1:
        print("sketch2face serve: --workers must be at least 1", file=sys.stderr)
        return 2
    settings = ServeSettings(model=args.model, data_dir=str(args.data_dir), database_url=args.database_url,
                             secure_cookies=args.secure_cookies, generations_per_minute=args.generations_per_minute)
    print(f"sketch2face: open http://{args.host}:{args.port}/ (API docs at /docs); Ctrl+C stops", file=sys.stderr)
    # Ctrl+C / SIGTERM: uvicorn stops accepting, lets requests in flight finish (up to 30 s), then exits
    if args.workers == 1:
        uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="warning",
                    timeout_graceful_shutdown=30)
        return 0
    import dataclasses
    import json

    from .serve.app import SETTINGS_ENV, open_database

    # migrate the schema once, here, rather than in every worker at the same moment
    open_database(settings)[0].dispose()
    os.environ[SETTINGS_ENV] = json.dumps(dataclasses.asdict(settings))
    uvicorn.run("sketch2face.serve.app:app_from_environment", factory=True, workers=args.workers, host=args.host,
                port=args.port, log_level="warning", timeout_graceful_shutdown=30)
    return 0


def _identify_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("sketch", type=Path)
    p.add_argument("--gallery", type=Path, required=True, help="folder of photos (searched recursively)")
    p.add_argument("--top", type=int, default=10)
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="processes that embed new gallery photos (default: one per core)")
    p.add_argument("--index", type=Path, help="index file (default: ~/.cache/sketch2face/galleries/...)")
    p.add_argument("--sheet", type=Path, help="write a contact sheet of the matches (PNG)")
    p.add_argument("--fuse-sketch", action="store_true",
                   help="rank by the mean of the distances to the generated face and to the sketch itself")
    p.add_argument("--model", default=None, help="bundled model name or release folder")
    _add_backend_arguments(p)
    p.add_argument("-q", "--quiet", action="store_true")


@command("identify", help="find the sketched person in a gallery of photos",
         description="Generate the face, embed it (dlib ResNet) and rank the gallery photos by distance.\n"
                     "Gallery embeddings are cached in an index and updated when photos change.\n"
                     "  sketch2face identify witness.png --gallery photos/ --top 10 --sheet matches.png",
         arguments=_identify_arguments)
def _cmd_identify(args: argparse.Namespace) -> int:
    from .backends import BackendUnavailableError
    from .errors import MetricUnavailableError
    from .identify import build_index, format_matches, identify, match_sheet
    from .io import ModelNotFoundError
    from .outputs import save_generated
    from .pipeline import SketchToFacePipeline

    if args.top < 1:
        print("sketch2face identify: --top must be at least 1", file=sys.stderr)
        return 2
    try:
        # never composed: a face built from other people's parts must not be searched for this person
        pipe = SketchToFacePipeline(args.model, backend=args.backend, precision=args.precision, compose=False)
        pipe.preprocess(args.sketch)  # an unreadable or blank sketch fails now, not after indexing the gallery
        index, report = build_index(args.gallery, args.index, progress=not args.quiet, workers=args.workers)
        print(f"gallery: {len(index)} photo(s) ({report.reused} from the index, {report.embedded} embedded now, "
              f"{report.removed} removed, {report.unreadable} unreadable)", file=sys.stderr)
        result = identify(args.sketch, index, pipe, args.top, fuse_sketch=args.fuse_sketch)
    except (ModelNotFoundError, BackendUnavailableError, MetricUnavailableError, InputImageError, ValueError) as error:
        print(f"sketch2face identify: {error}", file=sys.stderr)
        return 2
    if not result.face_detected:
        print("warning: no face detected in the generated image; its central region was embedded", file=sys.stderr)
    print(format_matches(result.matches))
    print("A generated face is a likeness, not evidence: treat matches as leads to verify.", file=sys.stderr)
    if args.sheet:
        args.sheet.parent.mkdir(parents=True, exist_ok=True)
        save_generated(match_sheet(args.sketch, result), args.sheet, pipe.model_name, "png")
        print(f"sheet: {args.sheet}", file=sys.stderr)
    return 0


def _export_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None, help="bundled model name or release folder (default: the default model)")
    p.add_argument("--format", choices=["onnx", "onnx-int8"], default="onnx")
    p.add_argument("--output", type=Path, help="file to write (default: inside the release folder)")
    p.add_argument("--fp32-weights", action="store_true", help="store weights in fp32 (default fp16, computed in fp32)")
    p.add_argument("--tolerance", type=float, default=1e-3, help="parity limit against PyTorch fp32")
    p.add_argument("--calibration", nargs="+",
                   help="sketch files or folders for int8 calibration (needed for onnx-int8)")
    p.add_argument("--calibration-count", type=int, default=64, help="at most this many calibration sketches")


@command("export", help="export a model to ONNX (fp32 graph) or int8 ONNX for ONNX Runtime",
         description="Writes model.onnx / model.int8.onnx into the release folder unless --output is given\n"
                     "(a bundled model's shipped files are never replaced: give --output).\n"
                     "The fp32 export is checked against PyTorch (max abs difference <= --tolerance).\n"
                     "  sketch2face export --model sketch2face-v1 --format onnx\n"
                     "  sketch2face export --model sketch2face-v1 --format onnx-int8 "
                     "--calibration ../shared/data/cufs/train/sketches",
         arguments=_export_arguments)
def _cmd_export(args: argparse.Namespace) -> int:
    import importlib.util

    from .io import BUNDLED_DIR, INT8_FILE, ONNX_FILE, ModelNotFoundError, Release, load_pretrained

    missing = [m for m in ("torch", "safetensors", "onnx") if importlib.util.find_spec(m) is None]
    if missing:
        print(f"sketch2face export: needs {', '.join(missing)}: pip install 'sketch2face[onnx]'", file=sys.stderr)
        return 2
    from .export import ExportError, calibration_batches, export_onnx, quantize_int8

    int8 = args.format == "onnx-int8"
    if int8 and not args.calibration:
        print("sketch2face export: onnx-int8 needs --calibration: sketch files or folders like the ones the model "
              "will see (for example ../shared/data/cufs/train/sketches)", file=sys.stderr)
        return 2
    try:
        release = Release.open(args.model)
    except ModelNotFoundError as error:
        print(f"sketch2face export: {error}", file=sys.stderr)
        return 2
    output = args.output or release.directory / (INT8_FILE if int8 else ONNX_FILE)
    if args.output is None and release.directory.resolve().is_relative_to(BUNDLED_DIR.resolve()):
        print(f"sketch2face export: {args.model or release.directory.name} is a bundled model; its shipped "
              f"{output.name} is not replaced: give --output", file=sys.stderr)
        return 2
    resolution = release.resolution
    try:
        model = load_pretrained(release.directory)
        if int8:
            calibration = calibration_batches(args.calibration, resolution, args.calibration_count)
            quantize_int8(model, output, calibration, resolution)
        else:
            export_onnx(model, output, resolution, fp16_weights=not args.fp32_weights, tolerance=args.tolerance)
    except (ModelNotFoundError, ExportError, InputImageError) as error:
        print(f"sketch2face export: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"sketch2face export: {output}: cannot write ({error.strerror or error})", file=sys.stderr)
        return 1
    print(f"wrote {output} ({Path(output).stat().st_size / 1e6:.1f} MB)", file=sys.stderr)
    return 0


@command("models", help="list bundled models and registered architectures")
def _cmd_models(args: argparse.Namespace) -> int:
    from .io import DEFAULT_MODEL, INT8_FILE, ONNX_FILE, Release, bundled_models

    print("bundled models:")
    for name in bundled_models():
        release = Release.open(name)
        marker = " (default)" if name == DEFAULT_MODEL else ""
        if release.routes is not None:
            composes = ("composes line drawings into photos from real face parts"
                        if release.compose_lines == "photo" else
                        f"composes line drawings from real face parts for {release.routes['portrait']}")
            lines = f"{composes} ({release.routes['lines']} with --no-compose)" if release.compose_lines \
                else f"line drawings to {release.routes['lines']}"
            print(f"  {name}{marker}: routes shaded portraits to {release.routes['portrait']}; {lines}")
            continue
        direction = "photo -> sketch" if release.direction == "photo_to_sketch" else "sketch -> photo"
        files = ["torch"] * release.has("model.safetensors") + ["onnx"] * release.has(ONNX_FILE) \
            + ["onnx-int8"] * release.has(INT8_FILE)
        styles = f", styles: {', '.join(release.styles)}" if release.styles else ""
        print(f"  {name}{marker}: {release.arch}, {direction}{styles}, backends: {', '.join(files)}")
    try:
        from .models import list_models
    except ImportError:  # the light install has no torch: releases run, architectures are not listed
        return 0
    print("architectures and presets:", ", ".join(list_models()))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sketch2face",
         description="Turn face sketches into photorealistic face photos.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (options, arguments, run) in sorted(COMMANDS.items()):
        p = sub.add_parser(name, formatter_class=argparse.RawDescriptionHelpFormatter, **options)
        arguments(p)
        p.set_defaults(func=run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if hasattr(args, "quiet") and not sys.stderr.isatty():
        args.quiet = True  # progress bars only on a terminal: redirected logs get the summary lines
    try:
        return args.func(args)
    except KeyboardInterrupt:
        # every file is written atomically, so what was written is complete and nothing else exists
        print(f"sketch2face {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
