"""Release folders (``config.json`` + ``model.safetensors``) and atomic file writes."""
from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

if TYPE_CHECKING:
    import torch
    from torch import nn

FORMAT_VERSION = 1
BUNDLED_DIR = Path(__file__).parent / "weights"
DEFAULT_MODEL = "sketch2face-v8"
#: What a router can compose line drawings into (``Release.compose_lines``, ``sketch2face.compose``).
COMPOSITES = ("portrait", "photo")


class ModelNotFoundError(FileNotFoundError):
    """A model name or folder that does not exist; the message lists the bundled models."""


# The process's umask, read once at import (os.umask can only be read by setting it).
_UMASK = os.umask(0)
os.umask(_UMASK)


def _temporary_beside(path: Path) -> tuple[int, str]:
    """An open temporary file in ``path``'s folder with the permissions ``open(path, "w")`` would give:
    mkstemp makes it private (0600), which the rename would carry over to the user's file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.fchmod(fd, 0o666 & ~_UMASK)
    return fd, tmp


@contextmanager
def _interrupts_held() -> Iterator[None]:
    """Ctrl-C held back until the block ends, then raised: an interrupt between a temporary file's
    creation and its rename or removal would leave it behind (seen once in
    ``test_ctrl_c_leaves_only_complete_outputs``). Only where Ctrl-C raises KeyboardInterrupt (the main
    thread, Python's default handler); a loop with its own handler (training) is left to it. Masking
    the signal would not do: the process's other threads (PyTorch's) would take it instead."""
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda number, frame: caught.append(number))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if caught:
            raise KeyboardInterrupt


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, then rename: readers never see half a file."""
    path = Path(path)
    with _interrupts_held():
        fd, tmp = _temporary_beside(path)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` through a temporary file and rename, so a crash never leaves a broken checkpoint."""
    import torch

    path = Path(path)
    with _interrupts_held():
        fd, tmp = _temporary_beside(path)
        os.close(fd)
        try:
            torch.save(obj, tmp)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


#: The files of a release folder: the config and fp16 weights every release has, the discriminator
#: a long run continues from (not installed), and the ONNX graphs the light install runs.
DISCRIMINATOR_FILE = "discriminator.safetensors"
ONNX_FILE, INT8_FILE = "model.onnx", "model.int8.onnx"


def save_pretrained(model: nn.Module, directory: str | Path, dtype: torch.dtype | None = None,
                    metadata: dict[str, Any] | None = None, discriminator: nn.Module | None = None) -> Path:
    """Write ``config.json`` + ``model.safetensors`` (weights cast to ``dtype``, default fp16) into ``directory``.

    With ``discriminator``, its weights go beside them (``discriminator.safetensors``, same dtype) so a
    later run can continue training from the release alone (``train --continue-from``); the installed
    package does not ship that file. The folder is assembled beside the target and renamed into
    place, replacing any old release whole.
    """
    import torch
    from safetensors.torch import save_file

    dtype = dtype or torch.float16
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    config = {"format_version": FORMAT_VERSION, "arch": model.arch_name, "config": asdict(model.config)}
    if metadata:
        config["metadata"] = metadata
    state = {k: (v.to(dtype) if v.is_floating_point() else v).contiguous() for k, v in model.state_dict().items()}
    staging = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}."))
    try:
        (staging / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        save_file(state, str(staging / "model.safetensors"))
        if discriminator is not None:
            save_file({k: (v.to(dtype) if v.is_floating_point() else v).contiguous()
                       for k, v in discriminator.state_dict().items()}, str(staging / DISCRIMINATOR_FILE))
        staging.chmod(0o755)  # mkdtemp makes the folder private; releases are meant to be shared
        for path in staging.iterdir():
            path.chmod(0o644)
        if directory.exists():
            old = directory.with_name(f".{directory.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(directory, old)
            os.replace(staging, directory)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return directory


def bundled_models() -> list[str]:
    """Names of the models that ship inside the package."""
    if not BUNDLED_DIR.is_dir():
        return []
    return sorted(p.name for p in BUNDLED_DIR.iterdir() if (p / "config.json").is_file())


def resolve_model_dir(name_or_path: str | Path | None = None) -> Path:
    """A bundled model's name (default: the default model) or a release folder -> its folder."""
    if name_or_path is None:
        name_or_path = DEFAULT_MODEL
    candidate = Path(name_or_path)
    if (candidate / "config.json").is_file():
        return candidate
    bundled = BUNDLED_DIR / str(name_or_path)
    if (bundled / "config.json").is_file():
        return bundled
    raise ModelNotFoundError(
        f"model {str(name_or_path)!r} is neither a bundled model ({', '.join(bundled_models()) or 'none'}) "
        "nor a folder with config.json and model.safetensors"
    )


def read_release_config(directory: str | Path | None) -> dict[str, Any]:
    """The raw config.json of a release (``Release.open`` is the typed view)."""
    directory = resolve_model_dir(directory)
    try:
        config = json.loads((directory / "config.json").read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ModelNotFoundError(f"{directory}/config.json is unreadable: {error}") from None
    if config.get("format_version") != FORMAT_VERSION:
        raise ModelNotFoundError(f"{directory}: unsupported format_version {config.get('format_version')!r}")
    return config


@dataclass(frozen=True)
class Release:
    """A release folder as inference, evaluation and the web app read it: written by training
    (``save_pretrained``; ``train.save_release`` adds the training record), read here and nowhere else.

    >>> Release.open("sketch2face-v1").resolution      # doctest: +SKIP
    256
    """

    directory: Path
    arch: str
    """Registered architecture, or "router" for a release that sends each sketch to one of two others."""
    config: dict[str, Any]
    """The architecture's constructor arguments."""
    metadata: dict[str, Any] = field(default_factory=dict)
    routes: dict[str, str] | None = None
    """A router's releases by drawing kind: {"portrait": ..., "lines": ...}."""
    compose_lines: str | None = None
    """What a router, by default, composes line drawings into from real face parts
    (``sketch2face.compose``): "portrait" (a pencil portrait its portrait model renders) or "photo"
    (a photo, no generator); None: it does not compose."""

    @classmethod
    def open(cls, name_or_path: str | Path | None = None) -> "Release":
        """A bundled model's name (default: the default model) or a release folder.

        Raises:
            ModelNotFoundError: no such model, an unreadable config.json, or a router without both routes.
        """
        config = read_release_config(name_or_path)
        directory = resolve_model_dir(name_or_path)
        routes = config.get("routes") if config.get("arch") == "router" else None
        if routes is not None and set(routes) != {"portrait", "lines"}:
            raise ModelNotFoundError(f"{directory}: a router needs routes for 'portrait' and 'lines', "
                                     f"got {sorted(routes)}")
        compose_lines = config.get("compose_lines") or None
        if compose_lines is not None and (routes is None or compose_lines not in COMPOSITES):
            raise ModelNotFoundError(f"{directory}: compose_lines must be one of {', '.join(COMPOSITES)} in a "
                                     f"router, got {compose_lines!r}")
        return cls(directory, config["arch"], config.get("config", {}), config.get("metadata", {}), routes,
                   compose_lines)

    @property
    def training(self) -> dict[str, Any]:
        """How the model was trained (resolution, direction, styles, steps and minutes of every part)."""
        return self.metadata.get("training", {})

    @property
    def resolution(self) -> int:
        return int(self.training.get("image_size", 256))

    @property
    def direction(self) -> str:
        return self.training.get("direction", "sketch_to_photo")

    @property
    def styles(self) -> list[str]:
        return list(self.training.get("styles") or [])

    @property
    def in_channels(self) -> int:
        return int(self.config.get("in_channels", 1))

    def has(self, file_name: str) -> bool:
        return (self.directory / file_name).is_file()


def load_pretrained(name_or_path: str | Path | None = None, dtype: torch.dtype | None = None) -> nn.Module:
    """Build the model a release folder (or bundled model name) describes and load its weights, in eval
    mode (``dtype`` default fp32). Needs PyTorch."""
    import torch
    from safetensors.torch import load_file

    from .models import create_model

    dtype = dtype or torch.float32
    directory = resolve_model_dir(name_or_path)
    config = read_release_config(directory)
    if config.get("arch") == "router":
        raise ModelNotFoundError(f"{directory} routes sketches to {config.get('routes')}: it has no weights of its "
                                 "own; load one of those models")
    model = create_model(config["arch"], **config["config"])
    try:
        state = load_file(str(directory / "model.safetensors"))
    except Exception as error:  # safetensors raises its own error types for corrupt files
        raise ModelNotFoundError(f"{directory}/model.safetensors is unreadable: {error}") from None
    model.load_state_dict({k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()})
    model.release_dir = directory
    model.release_metadata = config.get("metadata", {})
    return model.to(dtype).eval()
