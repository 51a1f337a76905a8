import subprocess
import sys

from pathlib import Path

import pytest
from PIL import Image

from sketch2face.cli import main


def test_help_lists_subcommands(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["--help"])
    assert exit.value.code == 0
    out = capsys.readouterr().out
    for command in ("train", "generate", "models"):
        assert command in out


def test_console_script_runs():
    """The installed `sketch2face` entry point (beside this Python), not `python -m`."""
    script = Path(sys.executable).parent / "sketch2face"
    assert script.is_file(), "the console script is not installed"
    result = subprocess.run([str(script), "generate", "--help"], capture_output=True, text=True, check=True)
    assert "--side-by-side" in result.stdout


def test_generate_converts_files_folders_and_globs(tiny_model_dir, sketch_files, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["generate", str(sketch_files[0]), str(sketch_files[0].parent), str(sketch_files[0].parent / "s*.png"),
                 "--output", str(out), "--model", str(tiny_model_dir), "-q", "--batch-size", "2"])
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["s0.png", "s1.png", "s2.png"]
    assert "model:" in capsys.readouterr().err


def test_generate_reports_bad_inputs_and_converts_the_rest(tiny_model_dir, sketch_files, tmp_path, capsys):
    bad = tmp_path / "notes.png"
    bad.write_text("this is not an image")
    out = tmp_path / "out"
    code = main(["generate", str(bad), *map(str, sketch_files), str(tmp_path / "missing.png"),
                 "--output", str(out), "--model", str(tiny_model_dir), "-q", "--format", "jpg"])
    assert code == 1
    assert sorted(p.name for p in out.iterdir()) == ["s0.jpg", "s1.jpg", "s2.jpg"]
    err = capsys.readouterr().err
    assert "notes.png: not an image" in err and "missing.png" in err


def test_side_by_side_keep_size_and_sheet(tiny_model_dir, sketch_files, tmp_path):
    out = tmp_path / "out"
    code = main(["generate", str(sketch_files[2]), "--output", str(out), "--model", str(tiny_model_dir), "-q",
                 "--side-by-side", "--keep-size", "--sheet", str(tmp_path / "sheet.png")])
    assert code == 0
    with Image.open(sketch_files[2]) as sketch, Image.open(out / "s2.png") as pair:
        assert pair.height == sketch.height and pair.width > 2 * sketch.width
    assert (tmp_path / "sheet.png").is_file()


def test_unknown_model_is_a_clear_error(sketch_files, tmp_path, capsys):
    code = main(["generate", str(sketch_files[0]), "--output", str(tmp_path), "--model", "no-such-model"])
    assert code == 2
    assert "no-such-model" in capsys.readouterr().err


def test_bad_config_value_is_a_clear_error(tmp_path, capsys):
    code = main(["train", "--set", "train.batch_size=0", "--dry-run"])
    assert code == 2
    assert "batch_size" in capsys.readouterr().err
    config = tmp_path / "c.yaml"
    config.write_text("train: {learning_rate: 1}\n")
    assert main(["train", "--config", str(config), "-n"]) == 2
    assert "learning_rate" in capsys.readouterr().err
    # each field's type is checked (pydantic): a number, a whole number, a list of numbers, a flag
    for override, says in (("train.lr=fast", "train.lr must be a number"),
                           ("train.batch_size=2.5", "train.batch_size must be a whole number"),
                           ("data.weights=[a, b]", "data.weights must be list[float] | None"),
                           ("train.channels_last=maybe", "train.channels_last must be true or false")):
        assert main(["train", "--set", override, "-n"]) == 2, override
        assert says in capsys.readouterr().err
    assert main(["train", "--set", "train.lr=3e-4", "--set", "train.max_steps=7", "-n"]) == 0
    printed = capsys.readouterr().out
    assert '"lr": 0.0003' in printed and '"max_steps": 7' in printed


def test_generate_fidelity_and_no_align_options(tiny_model_dir, sketch_files, tmp_path, capsys):
    out = tmp_path / "faces"
    base = ["generate", str(sketch_files[0]), "--model", str(tiny_model_dir), "-q"]
    assert main([*base, "--output", str(out / "a"), "--fidelity", "0.5", "--no-align"]) == 0
    assert (out / "a" / f"{sketch_files[0].stem}.png").is_file()
    assert main([*base, "--output", str(out / "b"), "--fidelity", "1.5"]) == 2
    assert "--fidelity must be between 0 and 1" in capsys.readouterr().err
    assert main([*base, "--output", str(out / "c"), "--compose", "--variation", "2"]) == 0
    assert (out / "c" / f"{sketch_files[0].stem}.png").is_file()
    assert main([*base, "--output", str(out / "d"), "--compose", "--variation", "-1"]) == 2
    assert "--variation must be 0 or more" in capsys.readouterr().err


def test_models_lists_the_default_and_what_it_does_with_line_drawings(capsys):
    assert main(["models"]) == 0
    listed = {line.split(":")[0].strip(): line for line in capsys.readouterr().out.splitlines() if ": " in line}
    assert "composes line drawings into photos from real face parts" in listed["sketch2face-v8 (default)"]
    assert "routes shaded portraits to sketch2face-portrait-3" in listed["sketch2face-v8 (default)"]
    assert "routes shaded portraits to sketch2face-portrait-2" in listed["sketch2face-v7"]
    assert "routes shaded portraits to sketch2face-portrait;" in listed["sketch2face-v6"]
    assert "routes shaded portraits to sketch2face-long" in listed["sketch2face-v5"]
    assert "composes line drawings from real face parts for sketch2face-long" in listed["sketch2face-v4"]
    assert "composes line drawings from real face parts for sketch2face-v1" in listed["sketch2face-v3"]
    assert "line drawings to sketch2face-freehand" in listed["sketch2face-v2"]
