import json

import pytest
import torch

from sketch2face import create_model, load_pretrained, save_pretrained
from sketch2face.io import ModelNotFoundError, atomic_torch_save, resolve_model_dir


def test_save_load_round_trip_gives_identical_output(tmp_path):
    model = create_model("unet-tiny").eval()
    save_pretrained(model, tmp_path / "m", dtype=torch.float32)
    loaded = load_pretrained(tmp_path / "m")
    x = torch.rand(1, 1, 32, 32) * 2 - 1
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["arch"] == "unet" and config["config"]["base_channels"] == 4


def test_fp16_release_is_close_to_fp32(tmp_path):
    model = create_model("unet-tiny").eval()
    save_pretrained(model, tmp_path / "m")  # default fp16
    loaded = load_pretrained(tmp_path / "m")
    x = torch.rand(1, 1, 32, 32) * 2 - 1
    with torch.no_grad():
        assert (model(x) - loaded(x)).abs().max() < 2e-2


def test_save_pretrained_replaces_an_existing_release(tmp_path):
    save_pretrained(create_model("unet-tiny"), tmp_path / "m")
    save_pretrained(create_model("unet-tiny", base_channels=8), tmp_path / "m")
    assert load_pretrained(tmp_path / "m").config.base_channels == 8
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no staging folders left behind


def test_checkpoint_loads_with_weights_only(tmp_path):
    model = create_model("unet-tiny")
    atomic_torch_save({"generator": model.state_dict(), "step": 3, "rng": torch.get_rng_state()}, tmp_path / "c.pt")
    state = torch.load(tmp_path / "c.pt", weights_only=True)
    assert state["step"] == 3


def test_missing_or_corrupt_model_gives_clear_errors(tmp_path):
    with pytest.raises(ModelNotFoundError, match="neither a bundled model"):
        resolve_model_dir(tmp_path / "nothing")
    save_pretrained(create_model("unet-tiny"), tmp_path / "m")
    (tmp_path / "m" / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ModelNotFoundError, match="unreadable"):
        load_pretrained(tmp_path / "m")


def test_release_is_the_typed_view_of_a_release_folder(tmp_path):
    import json

    import pytest

    from sketch2face.io import ModelNotFoundError, Release

    default = Release.open()
    assert default.arch == "router" and set(default.routes) == {"portrait", "lines"}
    v1 = Release.open("sketch2face-v1")
    assert (v1.resolution, v1.direction, v1.in_channels, v1.routes) == (256, "sketch_to_photo", 1, None)
    assert v1.has("model.onnx") and not v1.has("nothing.bin")
    reverse = Release.open("photo2sketch-v1")
    assert reverse.direction == "photo_to_sketch" and reverse.in_channels == 3 + len(reverse.styles) == 7
    broken = tmp_path / "broken-router"
    broken.mkdir()
    (broken / "config.json").write_text(json.dumps({"format_version": 1, "arch": "router",
                                                    "routes": {"lines": "sketch2face-v1"}}))
    with pytest.raises(ModelNotFoundError, match="'portrait' and 'lines'"):
        Release.open(broken)
    assert Release.open("sketch2face-v5").compose_lines == "photo"
    assert Release.open("sketch2face-v4").compose_lines == "portrait"
    assert Release.open("sketch2face-v2").compose_lines is None
    for composite in (True, "painting"):
        (broken / "config.json").write_text(json.dumps({
            "format_version": 1, "arch": "router", "compose_lines": composite,
            "routes": {"lines": "sketch2face-v1", "portrait": "sketch2face-v1"}}))
        with pytest.raises(ModelNotFoundError, match="compose_lines must be one of portrait, photo"):
            Release.open(broken)


def test_a_release_is_fp16_shared_readable_and_assembled_beside_its_target(tmp_path, renamed_from):
    import os

    from safetensors.torch import load_file

    release = save_pretrained(create_model("unet-tiny"), tmp_path / "m",
                              discriminator=create_model("patchgan-tiny"))
    for name in ("model.safetensors", "discriminator.safetensors"):
        tensors = load_file(str(release / name))
        assert {t.dtype for t in tensors.values() if t.is_floating_point()} == {torch.float16}, name
    assert release.stat().st_mode & 0o777 == 0o755
    assert {p.stat().st_mode & 0o777 for p in release.iterdir()} == {0o644}
    # assembled in a hidden folder beside the target, so the rename that publishes it stays on one
    # file system and a listing of the runs never shows a half-written release
    assert [os.path.dirname(src) for src in renamed_from] == [str(tmp_path)]
    assert os.path.basename(renamed_from[0]).startswith(".m.")


def test_a_release_without_metadata_loads_and_runs(tmp_path):
    from sketch2face.pipeline import SketchToFacePipeline

    save_pretrained(create_model("unet-tiny").eval(), tmp_path / "m", dtype=torch.float32)
    model = load_pretrained(tmp_path / "m")
    assert model.release_metadata == {}
    assert SketchToFacePipeline(model).resolution == 256


def test_config_errors_say_what_is_wrong_with_which_release(tmp_path):
    from sketch2face.io import bundled_models

    release = save_pretrained(create_model("unet-tiny"), tmp_path / "m")
    with pytest.raises(ModelNotFoundError, match=", ".join(bundled_models()[:2])):
        resolve_model_dir(tmp_path / "nothing")
    (release / "config.json").write_text("{not json")
    with pytest.raises(ModelNotFoundError, match=r"m/config.json is unreadable: "):
        load_pretrained(release)
    (release / "config.json").write_text(json.dumps({"format_version": 99, "arch": "unet"}))
    with pytest.raises(ModelNotFoundError, match="unsupported format_version 99"):
        load_pretrained(release)
