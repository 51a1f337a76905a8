"""End to end on a tiny model: train, checkpoint, resume exactly, release, generate."""
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


def test_cli_train_dry_run_prints_resolved_config(capsys):
    assert main(["train", "--config", "configs/pix2pix_cufs.yaml", "--set", "train.lr=1e-4", "-n"]) == 0
    assert '"lr": 0.0001' in capsys.readouterr().out


def test_resume_without_config_uses_the_runs_own_config(paired_folder, tmp_path):
    run_dir = train(tiny_config(paired_folder, tmp_path, 2), progress=False)
    assert main(["train", "--resume", str(run_dir), "--set", "train.max_steps=3", "-q"]) == 0
    assert torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)["step"] == 3
