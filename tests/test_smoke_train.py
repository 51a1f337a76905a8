"""End to end on a tiny model: train, checkpoint, resume exactly, release, generate."""
import pytest
import torch

from sketch2face.cli import main
from sketch2face.config import load_config
from sketch2face.pipeline import SketchToFacePipeline
from sketch2face.train import train


def tiny_config(folder, out, steps):
    return load_config("configs/smoke.yaml", [f"data.train=[{folder}]", f"output_dir={out}",
                                               f"train.max_steps={steps}",
                                               # constant lr: a 4-step run then decays like a 6-step one
                                               "train.lr_decay_start=1.0"])


def test_train_checkpoint_resume_and_generate(paired_folder, tmp_path, sketch_files):
    straight = train(tiny_config(paired_folder, tmp_path / "a", 6), progress=False)
    first = train(tiny_config(paired_folder, tmp_path / "b", 4), progress=False)
    checkpoint = torch.load(first / "checkpoints" / "last.pt", weights_only=True)
    assert checkpoint["step"] == 4
    resumed = train(tiny_config(paired_folder, tmp_path / "b", 6), resume=first, progress=False)
    assert resumed == first

    a = torch.load(straight / "checkpoints" / "last.pt", weights_only=True)
    b = torch.load(resumed / "checkpoints" / "last.pt", weights_only=True)
    assert b["step"] == 6
    for key in a["generator"]:  # resuming reproduces the uninterrupted run exactly
        assert torch.equal(a["generator"][key], b["generator"][key]), key

    for name in ("config.json", "log.txt", "metrics.jsonl", "loss_curve.png", "checkpoints/best.pt"):
        assert (first / name).is_file(), name
    face = SketchToFacePipeline(first / "release")(sketch_files[0])
    assert face.size == (32, 32)
    assert main(["generate", str(sketch_files[0]), "--model", str(first / "release"),
                 "--output", str(tmp_path / "faces"), "-q"]) == 0


def test_stopped_and_resumed_run_is_bit_identical_with_a_decaying_schedule(paired_folder, tmp_path, monkeypatch):
    """SIGTERM after step 4 of a 6-step run whose learning rate decays over its second half (as every
    shipped recipe's does, by steps here), then --resume: the generator, the EMA generator and the
    released weights equal those of the uninterrupted run, bit for bit."""
    import os
    import signal

    from safetensors.torch import load_file

    import sketch2face.train as training

    def config(out):
        return load_config("configs/smoke.yaml", [f"data.train=[{paired_folder}]", f"output_dir={out}",
                                                   "train.max_steps=6", "train.lr_decay_start=0.5",
                                                   "train.eval_every=3", "train.keep=last"])

    straight = train(config(tmp_path / "a"), progress=False)
    steps, real_step = [], training.gan_step

    def step_then_stop(*args, **kwargs):
        result = real_step(*args, **kwargs)
        steps.append(1)
        if len(steps) == 4:
            os.kill(os.getpid(), signal.SIGTERM)  # handled by the loop: it checkpoints and returns
        return result

    monkeypatch.setattr(training, "gan_step", step_then_stop)
    stopped = train(config(tmp_path / "b"), progress=False)
    monkeypatch.undo()
    assert torch.load(stopped / "checkpoints" / "last.pt", weights_only=True)["step"] == 4
    resumed = train(config(tmp_path / "b"), resume=stopped, progress=False)
    a = torch.load(straight / "checkpoints" / "last.pt", weights_only=True)
    b = torch.load(resumed / "checkpoints" / "last.pt", weights_only=True)
    assert b["step"] == 6
    for part in ("generator", "ema", "discriminator"):
        for key in a[part]:
            assert torch.equal(a[part][key], b[part][key]), (part, key)
    released_a = load_file(str(straight / "release" / "model.safetensors"))
    released_b = load_file(str(resumed / "release" / "model.safetensors"))
    assert all(torch.equal(released_a[k], released_b[k]) for k in released_a)


def test_cli_train_dry_run_prints_resolved_config(capsys):
    assert main(["train", "--config", "configs/pix2pix_cufs.yaml", "--set", "train.lr=1e-4", "-n"]) == 0
    assert '"lr": 0.0001' in capsys.readouterr().out


def test_resume_without_config_uses_the_runs_own_config(paired_folder, tmp_path):
    run_dir = train(tiny_config(paired_folder, tmp_path, 2), progress=False)
    assert main(["train", "--resume", str(run_dir), "--set", "train.max_steps=3", "-q"]) == 0
    assert torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)["step"] == 3


def test_reverse_direction_trains_and_sketchifies(paired_folder, tmp_path, sketch_files):
    from PIL import Image

    from sketch2face.pipeline import PhotoToSketchPipeline

    config = load_config("configs/smoke.yaml", [f"data.train=[{paired_folder}]", f"output_dir={tmp_path}",
                                                 "data.direction=photo_to_sketch", "train.max_steps=2",
                                                 "model.generator_config={in_channels: 3, out_channels: 1}"])
    run_dir = train(config, progress=False)
    reverse = PhotoToSketchPipeline(run_dir / "release")
    photo = next((paired_folder / "photos").iterdir())
    sketch = reverse(photo, keep_size=True)
    assert sketch.mode == "L" and sketch.size == Image.open(photo).size
    assert main(["sketchify", str(photo), "--model", str(run_dir / "release"), "-o", str(tmp_path / "s"), "-q"]) == 0
    assert (tmp_path / "s" / f"{photo.stem}.png").is_file()
    # a reverse model is refused where a sketch -> photo model is expected, and vice versa
    assert main(["generate", str(sketch_files[0]), "--model", str(run_dir / "release"), "-o", str(tmp_path / "f")]) == 2
    assert main(["sketchify", str(photo), "--model", str(run_dir / "release") + "-missing", "-o", str(tmp_path)]) == 2


def test_direction_and_channels_must_agree(paired_folder, tmp_path):
    import pytest

    from sketch2face.config import ConfigError

    config = load_config("configs/smoke.yaml", [f"data.train=[{paired_folder}]", f"output_dir={tmp_path}",
                                                 "data.direction=photo_to_sketch"])
    with pytest.raises(ConfigError, match="in_channels"):
        train(config, progress=False)


def test_fine_tuning_starts_from_a_release(paired_folder, tmp_path):
    from sketch2face.io import load_pretrained

    # the base run starts from another seed: a fine-tune that ignored init_from would start from
    # seed 0's random weights, which differ from the base release by far more than the tolerance
    base = train(load_config("configs/smoke.yaml", [f"data.train=[{paired_folder}]", f"output_dir={tmp_path / 'base'}",
                                                     "train.max_steps=2", "train.seed=1"]), progress=False)
    config = load_config("configs/smoke.yaml", [f"data.train=[{paired_folder}]", f"output_dir={tmp_path / 'ft'}",
                                                 f"model.init_from={base / 'release'}", "train.max_steps=1",
                                                 "train.lr=1e-12", "train.ema_decay=0"])
    tuned = train(config, progress=False)
    before, after = load_pretrained(base / "release").state_dict(), load_pretrained(tuned / "release").state_dict()
    for key in (k for k in before if k.endswith("weight")):
        assert torch.allclose(before[key], after[key], atol=1e-5), key  # a near-zero learning rate keeps the start


def test_distillation_from_a_teacher(paired_folder, tmp_path):
    import pytest

    from sketch2face.config import ConfigError

    teacher = train(tiny_config(paired_folder, tmp_path / "teacher", 2), progress=False)
    config = load_config("configs/smoke.yaml", [f"data.train=[{paired_folder}]", f"output_dir={tmp_path / 's'}",
                                                 "model.generator_config={base_channels: 2, max_channels: 8, num_downs: 5}",
                                                 "model.generator=unet", f"train.teacher={teacher / 'release'}",
                                                 "train.lambda_distill=50", "train.max_steps=2"])
    student = train(config, progress=False)
    history = torch.load(student / "checkpoints" / "last.pt", weights_only=True)["history"]
    assert any(h.get("loss_distill", 0) > 0 for h in history)
    with pytest.raises(ConfigError, match="teacher"):
        load_config("configs/smoke.yaml", ["train.lambda_distill=5"])


def test_style_conditioned_reverse_model(paired_folder, tmp_path):
    """data.styles adds one-hot input planes; the release remembers its styles and sketchify picks one."""
    import shutil

    import numpy as np
    import pytest

    from sketch2face.config import ConfigError
    from sketch2face.export import export_onnx
    from sketch2face.pipeline import PhotoToSketchPipeline

    second = tmp_path / "second"
    shutil.copytree(paired_folder, second)
    overrides = [f"data.train=[{paired_folder}, {second}]", f"output_dir={tmp_path / 'runs'}",
                 "data.direction=photo_to_sketch", "train.max_steps=2", "data.styles=[pencil, line]",
                 "data.folder_styles=[pencil, line]", "model.generator_config={in_channels: 5, out_channels: 1}"]
    run_dir = train(load_config("configs/smoke.yaml", overrides), progress=False)
    reverse = PhotoToSketchPipeline(run_dir / "release", backend="torch")
    assert reverse.styles == ["pencil", "line"]
    photo = next((paired_folder / "photos").iterdir())
    pencil, line = (np.asarray(reverse(photo, style=s), dtype=float) for s in ("pencil", "line"))
    assert np.abs(pencil - line).mean() > 0  # the style planes reach the generator
    assert np.array_equal(np.asarray(reverse(photo)), pencil.astype(np.uint8))  # the first style is the default
    with pytest.raises(ValueError, match="choose one of pencil, line"):
        reverse(photo, style="charcoal")

    from sketch2face.io import ONNX_FILE
    from sketch2face.io import load_pretrained

    export_onnx(load_pretrained(run_dir / "release"), run_dir / "release" / ONNX_FILE, resolution=32)
    onnx_line = PhotoToSketchPipeline(run_dir / "release", backend="onnx")(photo, style="line")
    assert np.abs(np.asarray(onnx_line, dtype=float) - line).max() <= 2
    out = tmp_path / "s"
    assert main(["sketchify", str(photo), "--model", str(run_dir / "release"), "--style", "line", "-o", str(out),
                 "-q"]) == 0
    assert (out / f"{photo.stem}.png").is_file()
    assert main(["sketchify", str(photo), "--model", str(run_dir / "release"), "--style", "pen", "-o", str(out)]) == 2
    assert main(["sketchify", str(photo), "--style", "fs2k-style1", "-o", str(out)]) == 2  # not procedural

    with pytest.raises(ConfigError, match="not in data.styles"):  # a pair whose label the model lacks
        train(load_config("configs/smoke.yaml", overrides[:-2] + ["data.folder_styles=[pencil, null]",
              "model.generator_config={in_channels: 5, out_channels: 1}"]), progress=False)
    with pytest.raises(ConfigError, match="one label"):
        load_config("configs/smoke.yaml", overrides[:-2] + ["data.folder_styles=[pencil]"])


def test_continue_from_a_release_or_a_run_counts_every_part(paired_folder, tmp_path):
    """A second part starts from the first part's release (generator + discriminator, fresh Adam with a
    warm-up) or its full checkpoint, in a new run folder; the release adds up steps over the parts."""
    import json

    from safetensors.torch import load_file

    from sketch2face.config import load_config
    from sketch2face.io import DISCRIMINATOR_FILE
    from sketch2face.train import train

    overrides = [f"data.train=[{paired_folder}]", f"output_dir={tmp_path}", "train.max_steps=3",
                 "train.eval_every=3", "train.checkpoint_every=3", "train.keep=last", "train.warmup_steps=2"]
    first = train(load_config("configs/smoke.yaml", overrides), progress=False)
    release = first / "release"
    assert (release / DISCRIMINATOR_FILE).is_file()
    # another seed for the second part: a discriminator it did not load would start elsewhere
    from_release = train(load_config("configs/smoke.yaml", overrides + ["train.seed=1"]), progress=False,
                         continue_from=release)
    from_run = train(load_config("configs/smoke.yaml", overrides), progress=False, continue_from=first)
    assert len({first, from_release, from_run}) == 3
    for run in (from_release, from_run):
        record = json.loads((run / "release" / "config.json").read_text())["metadata"]["training"]
        assert record["step"] == 6 and [p["steps"] for p in record["parts"]] == [3, 3]
    # the continued discriminator started from the first part's, not from a fresh initialisation
    first_d = load_file(str(release / DISCRIMINATOR_FILE))
    # (the second part's seed: train() seeds torch, so this is where an unloaded discriminator would start)
    fresh_overrides = overrides + ["train.max_steps=1", "train.eval_every=1", "train.seed=1"]
    fresh = train(load_config("configs/smoke.yaml", fresh_overrides), progress=False)
    continued_d = load_file(str(from_release / "release" / DISCRIMINATOR_FILE))
    fresh_d = load_file(str(fresh / "release" / DISCRIMINATOR_FILE))
    key = next(k for k in first_d if k.endswith("weight") and first_d[k].ndim == 4)
    assert (continued_d[key].float() - first_d[key].float()).abs().mean() < \
        0.5 * (fresh_d[key].float() - first_d[key].float()).abs().mean()


def test_a_photo_only_augmented_discriminator_trains_and_can_follow_a_conditional_one(paired_folder, tmp_path,
                                                                                    caplog):
    """``model.discriminator_sees_sketch: false`` judges the photo alone (3 input channels, not 4);
    ``train.discriminator_augment`` feeds it DiffAugmented images; a part continued from a release
    whose discriminator saw the sketch starts a fresh one and says so."""
    import json
    import logging

    from safetensors.torch import load_file

    from sketch2face.config import ConfigError
    from sketch2face.io import DISCRIMINATOR_FILE

    overrides = [f"data.train=[{paired_folder}]", f"output_dir={tmp_path}", "train.max_steps=2",
                 "train.eval_every=2", "train.checkpoint_every=2", "train.keep=last"]
    conditional = train(load_config("configs/smoke.yaml", overrides), progress=False)
    photo_only = overrides + ["model.discriminator_sees_sketch=false",
                              "train.discriminator_augment=[color, translation, cutout]"]
    with caplog.at_level(logging.WARNING, logger="sketch2face.train"):
        run = train(load_config("configs/smoke.yaml", photo_only), progress=False,
                    continue_from=conditional / "release")
    assert "discriminator of another shape" in caplog.text
    first_layer = {k: v for k, v in load_file(str(run / "release" / DISCRIMINATOR_FILE)).items()
                   if k.endswith("weight") and v.ndim == 4}
    assert next(iter(first_layer.values())).shape[1] == 3  # RGB only: the sketch is not shown
    record = json.loads((run / "release" / "config.json").read_text())["metadata"]["training"]["discriminator"]
    assert record["sees_sketch"] is False and record["augment"] == ["color", "translation", "cutout"]
    checkpoint = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert all(torch.isfinite(v).all() for v in checkpoint["generator"].values() if v.is_floating_point())
    with pytest.raises(ConfigError, match="discriminator_augment"):
        load_config("configs/smoke.yaml", ["train.discriminator_augment=[rotate]"])


def test_validation_scores_realism_and_identity_and_can_keep_the_lowest_kid(paired_folder, tmp_path):
    """``train.validate_realism`` adds KID, identity rank-1 and faces found to every evaluation;
    ``train.keep: best_kid`` releases the evaluation with the lowest KID, not the last one."""
    import json

    from sketch2face.config import ConfigError

    overrides = [f"data.train=[{paired_folder}]", f"output_dir={tmp_path}", "train.max_steps=6",
                 "train.eval_every=2", "data.val_fraction=0.5", "train.validate_realism=true",
                 "train.keep=best_kid", "train.lr=0.02"]
    run = train(load_config("configs/smoke.yaml", overrides), progress=False)
    evaluations = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [e["step"] for e in evaluations] == [2, 4, 6]
    for scores in evaluations:
        assert scores["val_kid"] == scores["val_kid"]  # a number, not NaN
        assert 0.0 <= scores["val_rank1"] <= 1.0 and 0.0 <= scores["val_face_found"] <= 1.0
    kept = json.loads((run / "release" / "config.json").read_text())["metadata"]["training"]["step"]
    assert kept == min(evaluations, key=lambda e: e["val_kid"])["step"]
    with pytest.raises(ConfigError, match="validate_realism"):
        load_config("configs/smoke.yaml", ["train.keep=best_kid"])


def test_selection_criteria_rank_validations_as_documented():
    """Each ``train.keep`` criterion prefers what its documentation says: more SSIM, less KID, and for
    best_kid_rank1 rank-1 minus 7.5 x KID (10 points of rank-1 outweigh 0.01 KID, not 0.02)."""
    from sketch2face.config import KEEP_CRITERIA
    from sketch2face.train import selection_score

    sharp = {"val_ssim": 0.60, "val_kid": 0.040, "val_rank1": 0.50}
    smooth = {"val_ssim": 0.62, "val_kid": 0.050, "val_rank1": 0.40}
    assert selection_score(smooth, "best_ssim") > selection_score(sharp, "best_ssim")
    assert selection_score(sharp, "best_kid") > selection_score(smooth, "best_kid")
    assert selection_score(sharp, "best_kid_rank1") > selection_score(smooth, "best_kid_rank1")
    recognisable_but_less_real = {"val_kid": 0.049, "val_rank1": 0.60}
    assert selection_score(recognisable_but_less_real, "best_kid_rank1") > selection_score(sharp, "best_kid_rank1")
    too_unreal = {"val_kid": 0.061, "val_rank1": 0.60}
    assert selection_score(too_unreal, "best_kid_rank1") < selection_score(sharp, "best_kid_rank1")
    assert selection_score({"val_ssim": 0.6}, "best_kid") is None and selection_score(sharp, "last") is None
    assert set(KEEP_CRITERIA) == {"best_ssim", "best_kid", "best_kid_rank1", "last"}


def test_selection_table_counts_steps_over_parts(tmp_path, capsys, monkeypatch):
    """scripts/selection_table.py numbers a later part's validations after the earlier parts' steps and
    names the validation each criterion keeps."""
    import importlib.util
    import json
    import sys
    from pathlib import Path

    parts = []
    for index, records in enumerate([[(500, 0.60, 0.050, 0.40), (1000, 0.61, 0.045, 0.42)],
                                     [(500, 0.59, 0.030, 0.45)]]):
        run = tmp_path / f"part{index}"
        run.mkdir()
        (run / "metrics.jsonl").write_text("".join(
            json.dumps({"step": s, "minutes": s / 20, "val_ssim": ssim, "val_psnr": 14.0, "val_kid": kid,
                        "val_rank1": rank1, "val_face_found": 1.0}) + "\n" for s, ssim, kid, rank1 in records))
        parts.append(str(run))
    script = Path(__file__).resolve().parents[1] / "scripts" / "selection_table.py"
    spec = importlib.util.spec_from_file_location("selection_table", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(sys, "argv", ["selection_table.py", *parts])
    module.main()
    out = capsys.readouterr().out
    assert "| 2 | 1500 | 75.0 | 0.5900 |" in out
    assert "- best_ssim: part 1, step 1000" in out and "- best_kid: part 2, step 1500" in out
    assert "- best_kid_rank1: part 2, step 1500" in out and "- last: part 2, step 1500" in out


def test_identity_loss_trains_and_is_logged(paired_folder, identity_head_file, tmp_path, monkeypatch):
    """train.lambda_identity adds the identity term (with the head file found where the loss looks)."""
    import sketch2face.losses as losses
    from sketch2face.config import ConfigError

    monkeypatch.setattr(losses, "IDENTITY_HEAD_FILE", identity_head_file)
    run = train(load_config("configs/smoke.yaml", [f"data.train=[{paired_folder}]", f"output_dir={tmp_path}",
                                                    "train.max_steps=2", "train.lambda_identity=1.0"]),
                progress=False)
    history = torch.load(run / "checkpoints" / "last.pt", weights_only=True)["history"]
    assert any("loss_identity" in record and record["loss_identity"] > 0 for record in history)
    with pytest.raises(ConfigError, match="lambda_identity"):
        load_config("configs/smoke.yaml", ["train.lambda_identity=-1"])


def test_paired_kid_draws_use_the_same_people_for_every_model():
    """scripts/compare_on_validation.py: a model identical to the reference differs by exactly 0 in every
    draw (the same half of the people for both), and one whose features sit nearer the real ones wins
    every draw."""
    import importlib.util
    from pathlib import Path

    import numpy as np

    script = Path(__file__).resolve().parents[1] / "scripts" / "compare_on_validation.py"
    spec = importlib.util.spec_from_file_location("compare_on_validation", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rng = np.random.default_rng(0)
    real = rng.normal(size=(40, 16))
    reference = real + rng.normal(0.8, 1.0, size=real.shape)
    draws = module.paired_kid_draws({"reference": reference, "same": reference.copy(),
                                     "nearer": real + 0.2 * (reference - real)}, real, draws=20)
    assert len(draws["reference"]) == 20 and np.ptp(draws["reference"]) > 0  # the halves differ
    np.testing.assert_array_equal(draws["same"], draws["reference"])
    assert (draws["nearer"] < draws["reference"]).all()
