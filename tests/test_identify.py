"""identify: gallery index (cached, updated, corrupt-safe), ranking, CLI."""
from __future__ import annotations

import os
from dataclasses import dataclass

import cv2
import numpy as np
import pytest

from sketch2face import SketchToFacePipeline
from sketch2face.cli import main
from sketch2face.identify import GalleryIndex, build_index, identify

from conftest import draw_pair


@dataclass
class _Embedding:
    vector: np.ndarray
    detected: bool = True


class CountingEmbedder:
    """A stand-in for dlib: the image shrunk to 8x16 greyscale values (128-d), counting calls."""

    def __init__(self):
        self.calls = 0

    def __call__(self, image: np.ndarray) -> _Embedding:
        self.calls += 1
        grey = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
        return _Embedding(cv2.resize(grey, (16, 8), interpolation=cv2.INTER_AREA).astype(np.float32).ravel() / 255)


@pytest.fixture
def gallery(tmp_path):
    folder = tmp_path / "gallery"
    (folder / "person_a").mkdir(parents=True)
    for i in range(5):
        _, photo = draw_pair(200 + i)
        sub = folder / "person_a" if i < 2 else folder
        cv2.imwrite(str(sub / f"p{i}.png"), cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))
    return folder


def test_index_is_cached_updated_and_survives_corruption(gallery, tmp_path):
    index_path = tmp_path / "index.npz"
    embed = CountingEmbedder()
    index, report = build_index(gallery, index_path, embed=embed, progress=False)
    assert len(index) == 5 and report.embedded == 5 and embed.calls == 5
    assert "person_a/p0.png" in index.paths

    index, report = build_index(gallery, index_path, embed=embed, progress=False)
    assert report.reused == 5 and report.embedded == 0 and embed.calls == 5

    _, photo = draw_pair(999)
    cv2.imwrite(str(gallery / "p2.png"), photo)  # changed content, new size or mtime
    os.utime(gallery / "p2.png", ns=(1, 1))
    (gallery / "p3.png").unlink()
    (gallery / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    index, report = build_index(gallery, index_path, embed=embed, progress=False)
    assert (report.embedded, report.reused, report.removed, report.unreadable) == (1, 3, 1, 1)
    assert len(index) == 4 and "p3.png" not in index.paths
    calls = embed.calls
    build_index(gallery, index_path, embed=embed, progress=False)
    assert embed.calls == calls  # the unreadable file is remembered, not retried

    index_path.write_bytes(index_path.read_bytes()[:100])  # truncated index: rebuilt, not a crash
    assert GalleryIndex.load(index_path, gallery) is None
    index, report = build_index(gallery, index_path, embed=embed, progress=False)
    assert report.embedded == 4 and len(index) == 4


def test_parallel_indexing_gives_the_same_index(gallery, tmp_path):
    serial, _ = build_index(gallery, tmp_path / "a.npz", embed=CountingEmbedder(), progress=False)
    parallel, report = build_index(gallery, tmp_path / "b.npz", embed=CountingEmbedder(), progress=False, workers=2)
    assert report.embedded == 5 and parallel.paths == serial.paths
    np.testing.assert_array_equal(parallel.embeddings, serial.embeddings)


def test_identify_ranks_the_matching_photo_first(gallery, tmp_path, tiny_model_dir, sketch_files):
    pipe = SketchToFacePipeline(tiny_model_dir)
    face = pipe(sketch_files[0])
    face.save(gallery / "the_one.png")  # the gallery holds exactly the generated face
    embed = CountingEmbedder()
    index, _ = build_index(gallery, tmp_path / "i.npz", embed=embed, progress=False)
    result = identify(sketch_files[0], index, pipe, top=3, embed=embed)
    assert [m.rank for m in result.matches] == [1, 2, 3]
    assert result.matches[0].path.name == "the_one.png"
    assert result.matches[0].distance == pytest.approx(0.0, abs=1e-6)
    assert result.matches[0].distance <= result.matches[1].distance <= result.matches[2].distance
    fused = identify(sketch_files[0], index, pipe, top=len(index), embed=embed, fuse_sketch=True)
    face_only = {m.path: m.distance for m in identify(sketch_files[0], index, pipe, top=len(index), embed=embed).matches}
    sketch_vector = embed(np.repeat(cv2.imread(str(sketch_files[0]), cv2.IMREAD_GRAYSCALE)[:, :, None], 3, 2)).vector
    for match in fused.matches:
        position = index.paths.index(str(match.path.relative_to(index.root)))
        to_sketch = np.linalg.norm(index.embeddings[position] - sketch_vector)
        assert match.distance == pytest.approx((face_only[match.path] + to_sketch) / 2, abs=1e-5)


def test_cli_identify_with_dlib(gallery, tmp_path, tiny_model_dir, sketch_files, capsys):
    pytest.importorskip("dlib")
    sheet = tmp_path / "matches.png"
    code = main(["identify", str(sketch_files[0]), "--gallery", str(gallery), "--model", str(tiny_model_dir),
                 "--index", str(tmp_path / "idx.npz"), "--top", "3", "--sheet", str(sheet), "-q"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    lines = captured.out.strip().splitlines()
    assert lines[0].split() == ["rank", "distance", "photo"] and len(lines) == 4
    assert "likeness, not evidence" in captured.err
    assert sheet.is_file()
    assert main(["identify", str(sketch_files[0]), "--gallery", str(tmp_path / "missing"),
                 "--model", str(tiny_model_dir)]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_identification_never_composes_a_line_drawing(gallery, tmp_path, monkeypatch):
    """The default composes line drawings from bank faces (other people's parts): identify must not."""
    import sketch2face.pipeline
    from sketch2face.io import DEFAULT_MODEL

    from sketch2face.data.freehand import MEAN_LANDMARKS_256, FaceGeometry, draw_freehand

    drawing = draw_freehand(FaceGeometry(MEAN_LANDMARKS_256.copy()), 256, "strokes", rng=0)
    embed = CountingEmbedder()
    index, _ = build_index(gallery, tmp_path / "i.npz", embed=embed, progress=False)
    made = []

    class Recording(SketchToFacePipeline):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(sketch2face.pipeline, "SketchToFacePipeline", Recording)
    identify(drawing, index, top=1, embed=embed)
    assert len(made) == 1 and made[0].model_name == DEFAULT_MODEL and not made[0].compose
    assert SketchToFacePipeline(backend="onnx").compose  # while generating composes by default
