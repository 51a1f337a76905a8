"""Shared fixtures: tiny models and a few synthetic sketch/photo pairs drawn here (nothing downloaded)."""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from sketch2face import create_model, save_pretrained

#: The checkout: recipes (configs/) and examples are found from here, wherever pytest runs.
ROOT = Path(__file__).resolve().parent.parent


def pytest_sessionfinish(session, exitstatus):
    """In CI (CI=true) a skipped test is a failure: a broken install must not pass by skipping."""
    if os.environ.get("CI") != "true" or exitstatus != 0:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter is not None else []
    if skipped:
        for report in skipped:
            reporter.write_line(f"skipped in CI: {report.nodeid}: {report.longrepr}")
        session.exitstatus = 1


@pytest.fixture(autouse=True, scope="session")
def _run_from_the_checkout():
    """Tests name recipes as configs/...: run them from the checkout, not from wherever pytest started."""
    before = Path.cwd()
    os.chdir(ROOT)
    yield
    os.chdir(before)


def draw_pair(seed: int, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """A face-like line sketch (greyscale) and a matching 'photo' (RGB) with the same geometry."""
    rng = np.random.default_rng(seed)
    sketch = np.full((size, size), 255, np.uint8)
    photo = np.full((size, size, 3), (200, 210, 220), np.uint8)
    cx, cy = size // 2 + int(rng.integers(-3, 4)), size // 2 + int(rng.integers(-3, 4))
    axes = (int(size * 0.3), int(size * 0.4))
    skin = tuple(int(v) for v in rng.integers(120, 230, 3))
    cv2.ellipse(photo, (cx, cy), axes, 0, 0, 360, skin, -1)
    cv2.ellipse(sketch, (cx, cy), axes, 0, 0, 360, 40, 1)
    for dx in (-size // 8, size // 8):
        cv2.circle(photo, (cx + dx, cy - size // 10), 2, (30, 30, 30), -1)
        cv2.circle(sketch, (cx + dx, cy - size // 10), 2, 0, 1)
    cv2.line(photo, (cx - size // 10, cy + size // 6), (cx + size // 10, cy + size // 6), (120, 40, 40), 1)
    cv2.line(sketch, (cx - size // 10, cy + size // 6), (cx + size // 10, cy + size // 6), 20, 1)
    return sketch, photo


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    np.random.seed(0)


@pytest.fixture
def paired_folder(tmp_path: Path) -> Path:
    """tmp/pairs/{photos,sketches}/face{i}.png: 8 pairs, 48x64 (not square, to exercise padding)."""
    root = tmp_path / "pairs"
    (root / "photos").mkdir(parents=True)
    (root / "sketches").mkdir()
    for i in range(8):
        sketch, photo = draw_pair(i)
        cv2.imwrite(str(root / "sketches" / f"face{i}.png"), sketch[:, 8:56])
        cv2.imwrite(str(root / "photos" / f"face{i}.png"), cv2.cvtColor(photo[:, 8:56], cv2.COLOR_RGB2BGR))
    return root


@pytest.fixture
def tiny_model_dir(tmp_path: Path) -> Path:
    """A release folder of the tiny U-Net (random weights), saved in fp32."""
    model = create_model("unet-tiny").eval()
    return save_pretrained(model, tmp_path / "tiny-release", dtype=torch.float32,
                           metadata={"training": {"image_size": 32}})


@pytest.fixture
def sketch_files(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "sketches"
    folder.mkdir()
    paths = []
    for i in range(3):
        sketch, _ = draw_pair(100 + i, size=40 + 7 * i)
        path = folder / f"s{i}.png"
        cv2.imwrite(str(path), sketch)
        paths.append(path)
    return paths


@pytest.fixture
def identity_head_file(tmp_path):
    """A random identity head in the layout scripts/train_identity_head.py writes (mean, projection)."""
    import torch
    from safetensors.torch import save_file

    generator = torch.Generator().manual_seed(0)
    path = tmp_path / "identity_head.safetensors"
    save_file({"mean": torch.zeros(3072), "projection": torch.randn(16, 3072, generator=generator)}, str(path))
    return path


@pytest.fixture
def renamed_from(monkeypatch) -> list[str]:
    """The source paths of every os.replace in the test, in order (where a temporary was written)."""
    sources: list[str] = []
    real_replace = os.replace

    def recording(src, dst):
        sources.append(str(src))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", recording)
    return sources
