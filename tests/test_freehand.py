"""Freehand drawings from landmarks, their use in training, and the framing of drawings at inference."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from sketch2face.config import ConfigError, load_config
from sketch2face.data.datasets import load_paired_folder
from sketch2face.data.freehand import (
    MEAN_LANDMARKS_256,
    PROCEDURES,
    FaceGeometry,
    draw_freehand,
    drawn_landmarks,
    freehand_strokes,
)
from sketch2face.data.prepare import PrepareOptions
from sketch2face.losses import l1_loss
from sketch2face.pipeline import SketchToFacePipeline, locate_drawing, preprocess_sketch
from sketch2face.train import redraw_freehand


def _silhouette(size: int = 256) -> np.ndarray:
    """A head-and-shoulders mask around the mean face."""
    mask = np.zeros((size, size), np.uint8)
    cv2.ellipse(mask, (size // 2, int(size * 0.5)), (int(size * 0.3), int(size * 0.42)), 0, 0, 360, 255, -1)
    cv2.rectangle(mask, (int(size * 0.1), int(size * 0.85)), (int(size * 0.9), size - 1), 255, -1)
    return mask


GEOMETRY = FaceGeometry(MEAN_LANDMARKS_256.copy(), _silhouette())


@pytest.mark.parametrize("procedure", PROCEDURES)
def test_each_procedure_draws_ink_on_paper_and_is_seeded(procedure):
    first = draw_freehand(GEOMETRY, 256, procedure, rng=3)
    again = draw_freehand(GEOMETRY, 256, procedure, rng=3)
    other = draw_freehand(GEOMETRY, 256, procedure, rng=4)
    assert first.shape == (256, 256) and first.dtype == np.uint8
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)
    ink = first < 128
    assert 0.01 < ink.mean() < 0.3  # sparse strokes, not a shaded portrait
    assert (first > 250).mean() > 0.6  # mostly paper


def test_deformation_moves_the_drawing_away_from_the_exact_geometry():
    exact = [draw_freehand(GEOMETRY, 256, "strokes", rng=k, strength=0.0) < 128 for k in range(4)]
    loose = [draw_freehand(GEOMETRY, 256, "strokes", rng=k, strength=1.0) < 128 for k in range(4)]
    jaw = np.zeros((256, 256), np.uint8)
    cv2.polylines(jaw, [MEAN_LANDMARKS_256[:17].astype(np.int32).reshape(-1, 1, 2)], False, 1, 5)
    on_jaw = [(d & (jaw > 0)).sum() / max(1, d[jaw > 0].size) for d in (exact, loose) for d in d]
    # with no deformation the jaw stroke (when drawn) lies on the landmarks; deformed it strays
    assert max(on_jaw[:4]) > max(on_jaw[4:])


def test_a_scaled_face_is_drawn_larger_with_the_same_pens():
    large = GEOMETRY.scaled(4)
    assert np.allclose(large.landmarks, GEOMETRY.landmarks * 4) and large.silhouette.shape == (1024, 1024)
    small, big = draw_freehand(GEOMETRY, 256, "cartoon", rng=5), draw_freehand(large, 1024, "cartoon", rng=5)
    # the same strokes, 4x as long and as wide as before, not 16x the ink
    assert 2 < (big < 128).sum() / max(1, (small < 128).sum()) < 8


def test_recorded_strokes_lie_on_the_drawn_ink():
    drawing = draw_freehand(GEOMETRY, 256, "doodle", rng=1)
    strokes = freehand_strokes(GEOMETRY, 256, "doodle", rng=1)
    points = np.concatenate([s.points for s in strokes]).round().astype(int).clip(0, 255)
    assert len(strokes) >= 10
    assert (drawing[points[:, 1], points[:, 0]] < 128).mean() > 0.95


def test_drawn_landmarks_are_where_the_drawing_put_the_features():
    from sketch2face.fidelity import distance_field

    exact = GEOMETRY.landmarks.round().astype(int)
    for seed in range(3):
        ink_distance = distance_field(draw_freehand(GEOMETRY, 256, "strokes", rng=seed))
        drawn = drawn_landmarks(GEOMETRY, 256, seed).round().astype(int)
        # the eye outlines run through the deformed places, not through the photo's
        assert np.median(ink_distance[drawn[36:48, 1], drawn[36:48, 0]]) < 0.5
        assert np.median(ink_distance[exact[36:48, 1], exact[36:48, 0]]) > 1.0
    assert np.allclose(drawn_landmarks(GEOMETRY, 256, 4, strength=0.0), GEOMETRY.landmarks, atol=1e-3)


def test_the_generic_procedure_draws_a_template_head_whatever_the_hair():
    """Its head, hair and shoulders come from no silhouette; only the features follow the landmarks."""
    bald = FaceGeometry(GEOMETRY.landmarks, None)
    long_haired = FaceGeometry(GEOMETRY.landmarks, _silhouette())
    assert np.array_equal(draw_freehand(bald, 256, "generic", rng=2), draw_freehand(long_haired, 256, "generic", rng=2))
    moved = FaceGeometry(GEOMETRY.landmarks + [0, 12], None)
    assert not np.array_equal(draw_freehand(bald, 256, "generic", rng=2), draw_freehand(moved, 256, "generic", rng=2))


def test_bad_procedure_and_landmarks_are_refused():
    with pytest.raises(ValueError, match="unknown freehand procedure"):
        draw_freehand(GEOMETRY, 256, "watercolour")
    with pytest.raises(ValueError, match="68, 2"):
        draw_freehand(FaceGeometry(np.zeros((5, 2), np.float32)), 256)


@pytest.mark.parametrize("held_out", ["doodle", "cartoon", "generic"])
def test_the_validation_and_test_procedures_cannot_be_trained_on(held_out):
    with pytest.raises(ConfigError, match="held out for validation or testing"):
        load_config(None, [f"data.freehand_procedures=[strokes, {held_out}]"])
    with pytest.raises(ConfigError, match="pixel_loss_weights"):
        load_config(None, ["data.pixel_loss_weights=[1, 0.5]"])
    with pytest.raises(ConfigError, match="perceptual_loss_weights"):
        load_config(None, ["data.perceptual_loss_weights=[-1]"])
    with pytest.raises(ConfigError, match="pixel_loss_pool"):
        load_config(None, ["data.pixel_loss_pool=[3]"])  # 256 is not a multiple of 3


def test_weighted_l1_counts_each_sample_by_its_weight():
    prediction, target = torch.zeros(2, 3, 4, 4), torch.ones(2, 3, 4, 4)
    target[1] = 3
    assert l1_loss(prediction, target).item() == pytest.approx(2.0)
    assert l1_loss(prediction, target, torch.tensor([1.0, 0.0])).item() == pytest.approx(0.5)


def test_pooled_l1_ignores_detail_but_not_colour_layout():
    """A sample with pool 8 is compared on 8x8 averages: a zero-mean pattern costs nothing there,
    a shift of colour does; a sample with pool 1 pays for both."""
    prediction, target = torch.zeros(2, 3, 16, 16), torch.zeros(2, 3, 16, 16)
    prediction[:, :, ::2] = 1.0
    prediction[:, :, 1::2] = -1.0  # stripes: detail the drawing does not determine
    pool = torch.tensor([8, 1])
    assert l1_loss(prediction[:1], target[:1], pool=pool[:1]).item() == pytest.approx(0.0)
    assert l1_loss(prediction, target, torch.tensor([0.0, 1.0]), pool).item() == pytest.approx(0.5)
    assert l1_loss(prediction + 0.25, target, torch.tensor([1.0, 0.0]), pool).item() == pytest.approx(0.125)


def test_perceptual_term_counts_each_sample_by_its_weight():
    from sketch2face.losses import PerceptualLoss

    perceptual = PerceptualLoss()
    generator = torch.Generator().manual_seed(0)
    prediction, target = torch.rand(2, 3, 64, 64, generator=generator), torch.rand(2, 3, 64, 64, generator=generator)
    first = perceptual(prediction[:1], target[:1]).item()
    assert first > 0
    assert perceptual(prediction, target, torch.tensor([1.0, 0.0])).item() == pytest.approx(first / 2, rel=1e-4)


def test_people_range_keeps_identity_disjoint_lfw_splits():
    options = PrepareOptions(people="A-S")
    assert options.person_wanted("lfw/Aaron_Eckhart") and options.person_wanted("lfw/Serena_Williams")
    assert not options.person_wanted("lfw/Tom_Hanks") and not options.person_wanted("lfw/Zico")
    assert PrepareOptions().person_wanted("lfw/Zico")


@pytest.fixture
def freehand_folder(tmp_path):
    """A prepared-style folder: 3 freehand pairs with landmarks and silhouettes, 1 plain pair."""
    root = tmp_path / "freehand"
    for sub in ("photos", "sketches", "silhouettes"):
        (root / sub).mkdir(parents=True)
    items = []
    for k in range(4):
        name = f"face{k}"
        Image.fromarray(np.full((256, 256, 3), 90 + 30 * k, np.uint8)).save(root / "photos" / f"{name}.png")
        Image.fromarray(draw_freehand(GEOMETRY, 256, "strokes", rng=k)).save(root / "sketches" / f"{name}.png")
        item = {"name": name, "identity": name, "style": "strokes"}
        if k < 3:
            Image.fromarray(GEOMETRY.silhouette).save(root / "silhouettes" / f"{name}.png")
            item.update(landmarks=MEAN_LANDMARKS_256.tolist(), landmarks_size=256)
        items.append(item)
    (root / "manifest.json").write_text(json.dumps({"version": 2, "options": {}, "items": items}))
    return root


def test_training_redraws_only_the_pairs_that_kept_their_geometry(freehand_folder):
    data = load_paired_folder(freehand_folder, size=64)
    assert data.landmarks.shape == (4, 68, 2) and data.silhouettes.shape == (4, 64, 64)
    assert np.allclose(data.landmarks[0], MEAN_LANDMARKS_256 / 4)
    assert [data.redrawable(i) for i in range(4)] == [True, True, True, False]
    rng = np.random.default_rng(0)
    redrawn = redraw_freehand(data, [0, 3], data.sketches[[0, 3]], ["strokes", "sketchy"], 1.0, rng)
    assert not np.array_equal(redrawn[0], data.sketches[0])
    assert np.array_equal(redrawn[1], data.sketches[3])


def test_freehand_recipe_trains_with_redrawn_sketches(freehand_folder, tmp_path):
    from sketch2face.train import train

    config = load_config("configs/smoke.yaml", [
        f"data.train=[{freehand_folder}]", f"output_dir={tmp_path}", "data.val_fraction=0",
        "data.freehand_procedures=[strokes, sketchy]", "data.pixel_loss_weights=[0.2]", "train.keep=last",
        "model.discriminator=patchgan-ms-tiny", "train.lambda_feature_matching=10",
    ])
    run_dir = train(config, progress=False)
    assert (run_dir / "release" / "model.safetensors").is_file()


def _corner_drawing() -> tuple[np.ndarray, np.ndarray]:
    """A doodle at a quarter of a 512 canvas in its lower-right corner, and the same doodle centred."""
    centred = draw_freehand(GEOMETRY, 256, "doodle", rng=0)
    canvas = np.full((512, 512), 255, np.uint8)
    canvas[384:, 384:] = cv2.resize(centred, (128, 128), interpolation=cv2.INTER_AREA)
    return canvas, centred


def test_a_small_face_in_a_corner_is_brought_to_the_models_framing():
    canvas, centred = _corner_drawing()
    left, top, side = locate_drawing(canvas)
    assert 384 - 40 < left and 384 - 40 < top and side < 200  # a square around the corner drawing
    framed = preprocess_sketch(canvas, 256)
    padded = preprocess_sketch(canvas, 256, align=False)
    reference = preprocess_sketch(centred, 256)
    ink = lambda p: (p.values[0] < 0).astype(np.float32)  # noqa: E731
    # the corner face now covers about as much of the frame as the centred one, and overlaps it
    assert abs(ink(framed).sum() - ink(reference).sum()) < 0.5 * ink(reference).sum()
    overlap = (ink(framed) * cv2.dilate(ink(reference), np.ones((9, 9)))).sum() / ink(framed).sum()
    assert overlap > 0.5
    assert ink(padded).sum() < 0.4 * ink(reference).sum()  # --no-align: still a small face


def test_drawings_that_fill_the_frame_are_only_padded():
    sketch = np.full((250, 200), 255, np.uint8)
    cv2.ellipse(sketch, (100, 125), (80, 110), 0, 0, 360, 30, 2)
    assert locate_drawing(sketch) is None
    assert locate_drawing(draw_freehand(GEOMETRY, 256, "strokes", rng=0)) is None


def test_keep_size_puts_the_face_back_where_the_drawing_was(tiny_model_dir):
    canvas, _ = _corner_drawing()
    pipe = SketchToFacePipeline(tiny_model_dir, backend="torch")
    face = pipe(canvas, keep_size=True)
    assert face.size == (512, 512)
    unaligned = SketchToFacePipeline(tiny_model_dir, backend="torch", align=False)(canvas, keep_size=True)
    assert unaligned.size == (512, 512)
    assert not np.array_equal(np.asarray(face), np.asarray(unaligned))


def test_fidelity_one_keeps_the_drawing_and_lower_moves_it_towards_training_drawings():
    from sketch2face.fidelity import PART_BOXES, apply_fidelity

    drawing = draw_freehand(GEOMETRY, 256, "doodle", rng=2)
    assert apply_fidelity(drawing, 1.0) is drawing
    half, none = apply_fidelity(drawing, 0.5), apply_fidelity(drawing, 0.0)
    assert half.shape == drawing.shape and half.dtype == np.uint8
    for moved in (half, none):
        assert (moved > 250).mean() > 0.6 and (moved < 128).mean() > 0.01  # still a line drawing
    x0, y0, x1, y1 = PART_BOXES["mouth"]
    change = [np.abs(m[y0:y1, x0:x1].astype(int) - drawing[y0:y1, x0:x1]).mean() for m in (half, none)]
    assert 0 < change[0] <= change[1] + 5  # lower fidelity moves the part at least as far
    with pytest.raises(ValueError, match="fidelity"):
        apply_fidelity(drawing, 1.5)
    with pytest.raises(ValueError, match="fidelity"):
        preprocess_sketch(drawing, 256, fidelity=-1)
