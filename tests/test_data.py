import warnings

import cv2
import numpy as np
import pytest

from sketch2face.cli import main
from sketch2face.data.align import (
    CANONICAL_LANDMARKS_256,
    NoFaceFoundWarning,
    align_face,
    fill_black_border,
    similarity_transform,
)
from sketch2face.data.augment import PairedAugment, SketchStyleAugment, facial_regions
from sketch2face.data.datasets import load_paired_folder, split_train_val
from sketch2face.data.sketch import STYLES, synthesize_sketch
from conftest import draw_pair


def test_similarity_transform_recovers_rotation_scale_and_shift():
    angle, scale, shift = np.deg2rad(12), 1.3, np.array([7.0, -4.0])
    rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = CANONICAL_LANDMARKS_256 @ rotation.T + shift
    matrix = similarity_transform(moved, CANONICAL_LANDMARKS_256)
    back = moved @ matrix[:, :2].T + matrix[:, 2]
    assert np.abs(back - CANONICAL_LANDMARKS_256).max() < 1e-3


def test_align_with_given_landmarks_puts_them_at_the_canonical_points():
    _, photo = draw_pair(1, size=300)
    landmarks = CANONICAL_LANDMARKS_256 * 1.1 + 5
    aligned = align_face(photo, kind="photo", landmarks=landmarks)
    assert aligned.found and aligned.image.shape == (256, 256, 3)
    mapped = landmarks @ aligned.matrix[:, :2].T + aligned.matrix[:, 2]
    assert np.abs(mapped - CANONICAL_LANDMARKS_256).max() < 0.5


def _funnelled(size: int = 250, angle: float = 9.0) -> tuple[np.ndarray, np.ndarray]:
    """A textured picture rotated as LFW's deep funnelling rotates a photo: black wedges in the
    corners. Returns the picture and where the wedges are."""
    rng = np.random.default_rng(3)
    picture = cv2.resize(rng.integers(60, 220, (12, 12, 3), dtype=np.uint8), (size, size), interpolation=cv2.INTER_CUBIC)
    rotation = cv2.getRotationMatrix2D((size / 2, size / 2), angle, 1.0)
    rotated = cv2.warpAffine(picture, rotation, (size, size), borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    wedges = cv2.warpAffine(np.ones((size, size), np.uint8), rotation, (size, size), borderValue=0) == 0
    return rotated, wedges


def test_black_padding_is_painted_in_and_the_picture_kept():
    rotated, wedges = _funnelled()
    assert rotated[wedges].max(axis=1).mean() < 5
    filled = fill_black_border(rotated)
    assert filled[wedges].max(axis=1).mean() > 50  # painted from the picture beside it
    inner = cv2.erode((~wedges).astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    assert np.array_equal(filled[inner], rotated[inner])


def test_a_dark_background_around_a_head_is_not_black_padding():
    photo = np.zeros((250, 250, 3), np.uint8)
    cv2.ellipse(photo, (125, 140), (70, 95), 0, 0, 360, (190, 150, 130), -1)  # a head on black, to the edges
    cv2.ellipse(photo, (125, 260), (120, 60), 0, 0, 360, (90, 90, 160), -1)  # shoulders
    assert np.array_equal(fill_black_border(photo), photo)


def test_no_face_warns_naming_the_input_and_falls_back_to_centre_framing():
    blank = np.full((120, 80), 200, np.uint8)
    with pytest.warns(NoFaceFoundWarning, match="drawing.png: no face found"):
        aligned = align_face(blank, kind="sketch", name="drawing.png")
    assert not aligned.found and aligned.image.shape == (256, 256)
    assert aligned.image[:, :40].min() == 255  # padded with paper, not stretched


@pytest.mark.parametrize("style", STYLES)
def test_every_sketch_style_is_deterministic_for_a_seed(style):
    _, photo = draw_pair(4, size=192)  # big enough that blur sizes (a share of the side) are not clamped
    a = synthesize_sketch(photo, style, seed=7)
    b = synthesize_sketch(photo, style, seed=7)
    c = synthesize_sketch(photo, style, seed=8)
    assert np.array_equal(a, b)
    assert a.dtype == np.uint8 and a.shape[:2] == photo.shape[:2]
    assert (a.ndim == 3) == (style == "colour")
    assert a.mean() > 100  # sketches are mostly paper
    if style != "pen":  # pen strokes of a simple drawing may not change with the width drawn
        assert not np.array_equal(a, c)


def test_xdog_draws_edges_not_dark_areas():
    """A dark flat square on paper: its outline is inked, its inside stays paper (tone is not ink)."""
    photo = np.full((128, 128, 3), 230, np.uint8)
    photo[32:96, 32:96] = 40
    lines = synthesize_sketch(photo, "xdog")
    assert lines[60:68, 60:68].min() == 255  # inside the dark square
    assert lines[30:34, 40:90].min() < 100  # its top edge


def test_hed_edges_follow_the_outline():
    pytest.importorskip("h5py")
    from sketch2face.data.hed import HEDUnavailableError, hed_edges

    photo = np.full((96, 96, 3), 220, np.uint8)
    cv2.circle(photo, (48, 48), 28, (60, 40, 30), -1)
    try:
        edges = hed_edges(photo)
    except HEDUnavailableError as error:
        pytest.skip(str(error))
    assert edges.shape == (96, 96) and 0 <= edges.min() and edges.max() <= 1
    ring = np.zeros((96, 96), np.uint8)
    cv2.circle(ring, (48, 48), 28, 1, 3)
    assert edges[ring > 0].mean() > 0.5 > 5 * edges[40:56, 40:56].mean()


def test_unknown_style_is_rejected():
    with pytest.raises(ValueError, match="unknown sketch style"):
        synthesize_sketch(np.zeros((8, 8, 3), np.uint8), "watercolour")


def test_split_is_deterministic_and_stable_when_files_are_added():
    names = [f"n{i}" for i in range(200)]
    train, val = split_train_val(names, 0.1, seed=0)
    assert sorted(train + val) == list(range(200)) and 5 < len(val) < 40
    _, val_more = split_train_val(names + ["extra"], 0.1, seed=0)
    assert set(val) <= set(val_more)


def test_paired_folder_loading_and_corrupt_files(paired_folder):
    data = load_paired_folder(paired_folder, size=32)
    assert data.sketches.shape == (8, 32, 32) and data.photos.shape == (8, 32, 32, 3)
    (paired_folder / "sketches" / "face3.png").write_bytes(b"broken")
    with pytest.raises(ValueError, match="face3.png"):
        load_paired_folder(paired_folder, size=32)


def test_augmentations_keep_shapes_and_are_seeded():
    sketch, photo = draw_pair(0, size=64)
    augment = PairedAugment(probability=1.0)
    a = augment(sketch, photo, np.random.default_rng(3))
    b = augment(sketch, photo, np.random.default_rng(3))
    assert np.array_equal(a[0], b[0]) and a[1].shape == photo.shape
    style = SketchStyleAugment(stroke_width=1, darkness=1, paper=1, erase_regions=1)
    out = style(sketch, np.random.default_rng(0))
    assert out.shape == sketch.shape and out.dtype == np.uint8


def test_region_erasing_blanks_the_region_to_paper():
    sketch = np.zeros((256, 256), np.uint8)
    region = facial_regions(256)["mouth"]
    from sketch2face.data.augment import erase_region
    erased = erase_region(sketch, region)
    x0, y0, x1, y1 = region
    assert erased[(y0 + y1) // 2, (x0 + x1) // 2] == 255
    assert erased[5, 5] == 0


def test_sketchify_cli(tmp_path):
    from PIL import Image

    _, photo = draw_pair(2, size=80)
    Image.fromarray(photo).save(tmp_path / "face.png")
    (tmp_path / "bad.jpg").write_text("nope")
    code = main(["sketchify", str(tmp_path / "face.png"), str(tmp_path / "bad.jpg"), "--output",
                 str(tmp_path / "out"), "--style", "xdog", "-q"])
    assert code == 1
    assert (tmp_path / "out" / "face.png").is_file()


def test_prepare_data_paired_then_reuses_cache(paired_folder, tmp_path):
    out = tmp_path / "prepared"
    assert main(["prepare-data", "--paired", str(paired_folder), "--out", str(out), "--size", "32", "-q"]) == 0
    manifest = __import__("json").loads((out / "manifest.json").read_text())
    assert len(manifest["items"]) == 8 and manifest["items"][0]["style"] == "hand-drawn"
    assert len(list((out / "photos").iterdir())) == 8
    from sketch2face.data.prepare import PrepareOptions, prepare_dataset
    report = prepare_dataset(out, paired=paired_folder, options=PrepareOptions(size=32), progress=False)
    assert report.reused == 8 and report.written == 0
    data = load_paired_folder(out, size=32)
    assert len(data) == 8


def test_prepare_data_counts_and_reports_bad_data(paired_folder, tmp_path, capsys):
    (paired_folder / "sketches" / "orphan.png").write_bytes((paired_folder / "sketches" / "face0.png").read_bytes())
    (paired_folder / "photos" / "face1.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    big = cv2.resize(cv2.imread(str(paired_folder / "sketches" / "face2.png")), (96, 128))
    cv2.imwrite(str(paired_folder / "sketches" / "face2.png"), big)
    out = tmp_path / "prepared"
    assert main(["prepare-data", "--paired", str(paired_folder), "--out", str(out), "--size", "32", "-q"]) == 1
    err = capsys.readouterr().err
    assert "7 item(s) written" in err and "1 unreadable" in err and "1 without a partner" in err
    assert "1 with photo and sketch of different sizes" in err
    assert "orphan" in err and "face1" in err
    assert len(list((out / "photos").iterdir())) == 7  # nothing half-written for the bad ones


def test_prepare_data_unpaired_photos_with_identities_and_styles(tmp_path):
    from PIL import Image

    from sketch2face.data.prepare import PrepareOptions, prepare_dataset

    root = tmp_path / "people"
    for person in ("ann", "bob"):
        (root / person).mkdir(parents=True)
        for k in range(2):
            Image.fromarray(draw_pair(k + (5 if person == "bob" else 0), size=64)[1]).save(root / person / f"{k}.png")
    out = tmp_path / "prepared"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = prepare_dataset(out, photos=[root], options=PrepareOptions(size=32, styles=("line", "pen")),
                                 progress=False)
    assert report.written == 4
    data = load_paired_folder(out, size=32)
    assert sorted(set(data.identities)) == ["people/ann", "people/bob"]
    train, val = split_train_val(data.identities, 0.5, seed=1)
    people = lambda idx: {data.identities[i] for i in idx}  # noqa: E731
    assert not people(train) & people(val)  # identity-disjoint


def test_mixture_weights_set_each_folders_share():
    from sketch2face.data.datasets import PairedArrays
    from sketch2face.train import epoch_order, sample_probabilities

    a = PairedArrays(["a"] * 10, np.zeros((10, 4, 4), np.uint8), np.zeros((10, 4, 4, 3), np.uint8))
    b = PairedArrays(["b"] * 90, np.zeros((90, 4, 4), np.uint8), np.zeros((90, 4, 4, 3), np.uint8))
    data = PairedArrays.concatenate([a, b])
    probabilities = sample_probabilities(data, [0.5, 0.5])
    order = np.concatenate([epoch_order(len(data), 0, e, probabilities) for e in range(20)])
    assert abs((data.sources[order] == 0).mean() - 0.5) < 0.05
