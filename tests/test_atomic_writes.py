"""Every file sketch2face writes is written whole or not at all: when the write or the rename that
publishes it fails, the old file survives intact and no temporary file is left."""
from __future__ import annotations

import os
import signal

import numpy as np
import pytest
import torch

from sketch2face import create_model, save_pretrained
from sketch2face.identify import GalleryIndex
from sketch2face.io import atomic_torch_save, atomic_write_bytes


def _fail(*args, **kwargs):
    raise OSError(28, "No space left on device")


def _files(folder):
    return sorted(p.name for p in folder.rglob("*") if p.is_file())


def test_checkpoint_survives_a_failed_save(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    atomic_torch_save({"step": 1}, path)

    def half_written(obj, target):
        with open(target, "wb") as handle:
            handle.write(b"PK\x03\x04 half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", half_written)
    with pytest.raises(OSError):
        atomic_torch_save({"step": 2}, path)
    monkeypatch.undo()
    assert torch.load(path, weights_only=True) == {"step": 1}
    assert _files(tmp_path) == ["last.pt"]


def test_release_survives_a_failed_save(tmp_path, monkeypatch):
    import safetensors.torch

    model = create_model("unet-tiny")
    release = save_pretrained(model, tmp_path / "release")
    before = {name: (release / name).read_bytes() for name in _files(release)}
    monkeypatch.setattr(safetensors.torch, "save_file", _fail)
    with pytest.raises(OSError):
        save_pretrained(create_model("unet-tiny", base_channels=8), tmp_path / "release")
    assert {name: (release / name).read_bytes() for name in _files(release)} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["release"]


@pytest.mark.parametrize("failing", ["write", "rename"])
def test_bytes_survive_a_failed_write_or_rename(tmp_path, monkeypatch, failing):
    """atomic_write_bytes writes history images, outputs and ONNX files."""
    path = tmp_path / "face.png"
    atomic_write_bytes(path, b"old")
    if failing == "rename":
        monkeypatch.setattr(os, "replace", _fail)
    else:
        monkeypatch.setattr(os, "fsync", _fail)
    with pytest.raises(OSError):
        atomic_write_bytes(path, b"new and longer")
    assert path.read_bytes() == b"old"
    assert _files(tmp_path) == ["face.png"]


def test_gallery_index_survives_a_failed_save(tmp_path, monkeypatch):
    index = GalleryIndex(tmp_path, ["a.jpg"], ["a|1"], np.zeros((1, 128), np.float32), np.ones(1, bool), [])
    path = tmp_path / "index.npz"
    index.save(path)
    before = path.read_bytes()
    monkeypatch.setattr(os, "replace", _fail)
    with pytest.raises(OSError):
        GalleryIndex(tmp_path, ["b.jpg"], ["b|2"], np.ones((1, 128), np.float32), np.ones(1, bool), []).save(path)
    assert path.read_bytes() == before
    assert _files(tmp_path) == ["index.npz"]


def test_atomic_writes_get_the_permissions_of_an_ordinary_write(tmp_path):
    """A file written atomically is readable like one written with open() under the same umask
    (mkstemp alone makes every output 0600, private to its writer)."""
    with open(tmp_path / "plain", "wb") as handle:
        handle.write(b"x")
    atomic_write_bytes(tmp_path / "atomic", b"x")
    atomic_torch_save({"x": 1}, tmp_path / "atomic.pt")
    expected = (tmp_path / "plain").stat().st_mode & 0o777
    assert (tmp_path / "atomic").stat().st_mode & 0o777 == expected
    assert (tmp_path / "atomic.pt").stat().st_mode & 0o777 == expected


def test_the_temporary_file_sits_beside_its_target(tmp_path, renamed_from):
    """Beside it, so the final rename stays on one file system (a rename across them is a copy)."""
    atomic_write_bytes(tmp_path / "face.png", b"data")
    atomic_torch_save({"step": 1}, tmp_path / "last.pt")
    assert [os.path.dirname(src) for src in renamed_from] == [str(tmp_path)] * 2


def test_ctrl_c_during_an_atomic_write_arrives_after_the_file_is_complete(tmp_path, monkeypatch):
    from sketch2face import io as sio

    real_fsync = os.fsync

    def fsync_after_ctrl_c(fd):
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while the temporary file is half written
        real_fsync(fd)

    monkeypatch.setattr(sio.os, "fsync", fsync_after_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        sio.atomic_write_bytes(tmp_path / "face.png", b"x" * 1000)
    assert (tmp_path / "face.png").read_bytes() == b"x" * 1000  # written whole, then interrupted
    assert [p.name for p in tmp_path.iterdir()] == ["face.png"]  # and no temporary file left
