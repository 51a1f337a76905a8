"""Every recipe in configs/ resolves, and runs a couple of steps when shrunk to a tiny model."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from sketch2face.config import load_config
from sketch2face.train import train

from conftest import ROOT

RECIPES = sorted((ROOT / "configs").glob("*.yaml"))


def test_the_recipes_are_found():
    assert len(RECIPES) >= 10 and ROOT / "configs" / "sketch2face_freehand_v2.yaml" in RECIPES
TINY = {"unet": "unet-tiny", "unet-res": "unet-res-tiny", "unet-bilstm": "unet-bilstm-tiny",
        "csi-resnet": "csi-resnet-tiny", "patchgan": "patchgan-tiny", "patchgan-ms": "patchgan-ms-tiny",
        "projected": "projected-tiny"}


@pytest.mark.parametrize("recipe", RECIPES, ids=[r.stem for r in RECIPES])
def test_recipe_trains_two_steps_when_shrunk(recipe, paired_folder, tmp_path):
    config = load_config(recipe)
    tiny_generator = TINY[config.model.generator.removesuffix("-tiny")]
    tiny_discriminator = TINY[config.model.discriminator.removesuffix("-tiny")]
    channels = {k: v for k, v in config.model.generator_config.items() if k in ("in_channels", "out_channels")}
    # a style-conditioned recipe keeps its styles; the one tiny folder takes the first label
    styles = [f"data.folder_styles=[{config.data.styles[0]}]"] if config.data.styles else []
    config = load_config(recipe, [*styles,
        f"model.generator={tiny_generator}", f"model.generator_config={channels}",
        # the bundled teacher / starting weights do not fit a tiny model; both are tested in test_smoke_train
        "model.init_from=null", "train.teacher=null", "train.lambda_distill=0", "data.weights=null",
        "data.pixel_loss_weights=null", "data.pixel_loss_pool=null", "data.perceptual_loss_weights=null",
        f"model.discriminator={tiny_discriminator}", "model.discriminator_config={}",
        f"data.train=[{paired_folder}]", "data.image_size=32", "train.batch_size=2", "train.max_steps=2",
        f"output_dir={tmp_path}", "train.eval_every=2", "train.checkpoint_every=2",
    ])
    run_dir = train(config, progress=False)
    state = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    assert state["step"] == 2
    assert (run_dir / "release" / "model.safetensors").is_file()


def test_multi_scale_discriminator_with_feature_matching_and_perceptual_loss(paired_folder, tmp_path):
    config = load_config("configs/smoke.yaml", [
        "model.discriminator=patchgan-ms-tiny", f"data.train=[{paired_folder}]", f"output_dir={tmp_path}",
        "train.lambda_feature_matching=10", "train.lambda_perceptual=1", "train.lambda_tv=0.1",
        "train.gan_mode=hinge", "train.max_steps=2",
    ])
    run_dir = train(config, progress=False)
    history = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)["history"]
    train_record = [h for h in history if "loss_g" in h][-1]
    assert {"loss_fm", "loss_perceptual", "loss_tv", "loss_gan", "loss_d"} <= set(train_record)
    assert list((run_dir / "tensorboard").iterdir())


def test_time_budget_and_sigterm_end_with_a_checkpoint(paired_folder, tmp_path):
    """A run with a large step count is stopped by SIGTERM and leaves a resumable checkpoint."""
    code = (
        "import os, signal, threading, sys\n"
        "from sketch2face.config import load_config\n"
        "from sketch2face.train import train\n"
        f"config = load_config('configs/smoke.yaml', ['data.train=[{paired_folder}]', 'output_dir={tmp_path}',"
        " 'train.max_steps=100000', 'train.eval_every=100000', 'train.checkpoint_every=100000'])\n"
        "import glob, time\n"
        "def stop_once_training():\n"
        "    while not glob.glob(os.path.join(config.output_dir, '*', 'log.txt')):\n"
        "        time.sleep(0.1)\n"
        "    time.sleep(3.0)\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "threading.Thread(target=stop_once_training, daemon=True).start()\n"
        "print(train(config, progress=False))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    run_dir = Path(result.stdout.strip().splitlines()[-1])
    state = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    assert 0 < state["step"] < 100000


def test_two_process_data_parallel_training(paired_folder, tmp_path):
    """torchrun with 2 gloo processes on a tiny model: one run folder, identical step count."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    import socket

    with socket.socket() as probe:  # a free port, not a fixed one another job may hold
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", str(port),
               "-m", "sketch2face.cli", "train", "--config", "configs/smoke.yaml", "-q",
               "--set", f"data.train=[{paired_folder}]", "--output-dir", str(tmp_path / "runs"),
               "--set", "train.max_steps=3"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=240, env=env)
    assert result.returncode == 0, result.stderr[:3000] + "\n...\n" + result.stderr[-1500:]
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1
    state = torch.load(runs[0] / "checkpoints" / "last.pt", weights_only=True)
    assert state["step"] == 3


def test_sigkill_loses_at_most_the_steps_since_the_last_checkpoint(paired_folder, tmp_path):
    """SIGKILL cannot be caught: the atomic checkpoint on disk must still be whole, and resume continues."""
    import signal
    import time

    command = [sys.executable, "-m", "sketch2face.cli", "train", "--config", "configs/smoke.yaml", "-q",
               "--set", f"data.train=[{paired_folder}]", "--output-dir", str(tmp_path / "runs"),
               "--set", "train.max_steps=100000", "--set", "train.checkpoint_every=3",
               "--set", "train.eval_every=100000"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    checkpoint = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = list((tmp_path / "runs").glob("*/checkpoints/last.pt"))
        if found:
            checkpoint = found[0]
            time.sleep(1.0)  # let it write a few more checkpoints, then kill it mid-flight
            break
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert checkpoint is not None, "no checkpoint was written"
    saved = torch.load(checkpoint, weights_only=True)  # whole, not half-written
    assert saved["step"] % 3 == 0 and saved["step"] >= 3
    run_dir = checkpoint.parent.parent

    target = saved["step"] + 2
    result = subprocess.run([sys.executable, "-m", "sketch2face.cli", "train", "--resume", str(run_dir), "-q",
                             "--set", f"train.max_steps={target}"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    resumed = torch.load(checkpoint, weights_only=True)
    assert resumed["step"] == target
    assert "resumed from" in (run_dir / "log.txt").read_text()


def test_a_suspended_step_counts_as_a_usual_one_against_the_time_budget():
    """A part stopped for a while (pause.sh, a sleeping laptop) loses no steps; a slowed one counts in full."""
    from sketch2face.train import StepClock

    clock = StepClock()
    assert [clock.count(s) for s in (4.0, 4.0)] == [4.0, 4.0]
    assert clock.count(60.0) == pytest.approx(4.0)  # stopped for a minute during the step
    assert clock.typical == pytest.approx(4.0)  # and the usual step did not grow with it
    assert clock.count(10.0) == 10.0  # slowed by other work, not stopped: real time
    assert clock.count(4.0) == 4.0


def test_learning_rate_decays_linearly_over_the_second_half_of_the_steps(paired_folder, tmp_path):
    from sketch2face.train import lr_factor

    assert [lr_factor(p, 0.5) for p in (0.0, 0.5, 0.75, 1.0)] == [1.0, 1.0, 0.5, 0.0]
    assert lr_factor(0.9, 1.0) == 1.0  # decay_start 1: constant (a part of a longer run)
    config = load_config("configs/smoke.yaml", [f"data.train=[{paired_folder}]", f"output_dir={tmp_path}",
                                                 "train.max_steps=4", "train.lr=1e-3", "train.lr_decay_start=0.5"])
    state = torch.load(train(config, progress=False) / "checkpoints" / "last.pt", weights_only=True)
    # the last step (index 3 of 4) ran at 1e-3 * lr_factor(3/4, 0.5)
    assert state["opt_g"]["param_groups"][0]["lr"] == pytest.approx(5e-4)
    assert state["opt_d"]["param_groups"][0]["lr"] == pytest.approx(5e-4)


def test_time_budget_ends_the_run_and_anneals_the_learning_rate(paired_folder, tmp_path):
    """train.max_minutes stops a run whose step count is far away, and the learning rate has decayed
    (over the second half of the budget) to near zero by then."""
    budget_minutes = 0.1  # 6 s: many steps of the tiny model even on a loaded machine
    config = load_config("configs/smoke.yaml", [f"data.train=[{paired_folder}]", f"output_dir={tmp_path}",
                                                 "train.max_steps=1000000", f"train.max_minutes={budget_minutes}",
                                                 "train.lr=1e-3", "train.eval_every=1000000"])
    state = torch.load(train(config, progress=False) / "checkpoints" / "last.pt", weights_only=True)
    assert 0 < state["step"] < 1000000
    assert budget_minutes * 60 <= state["elapsed_seconds"] < budget_minutes * 60 + 5
    assert state["opt_g"]["param_groups"][0]["lr"] < 0.25e-3
