"""ONNX export, int8 quantisation, the inference backends and the torch-free light install."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from sketch2face import SketchToFacePipeline, create_model
from sketch2face.backends import BackendUnavailableError, make_session
from sketch2face.cli import main
from sketch2face.export import export_onnx, parity, quantize_int8
from sketch2face.io import INT8_FILE

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")


@pytest.mark.parametrize("upsample", ["transpose", "resize"])
def test_export_matches_pytorch_with_dynamic_batch(tmp_path, upsample):
    model = create_model("unet-tiny", upsample=upsample).eval()
    path = export_onnx(model, tmp_path / "m.onnx", resolution=32, fp16_weights=False)
    assert parity(model, path, resolution=32, batch=3) <= 1e-3  # a batch size other than the traced one
    session = make_session(path)
    assert session.get_inputs()[0].shape[0] == "batch"


def test_fp16_stored_weights_halve_the_file_and_keep_fp32_compute(tmp_path):
    model = create_model("unet", base_channels=8, max_channels=32, num_downs=5).eval()
    full = export_onnx(model, tmp_path / "fp32.onnx", resolution=32, fp16_weights=False)
    half = export_onnx(model, tmp_path / "fp16.onnx", resolution=32, fp16_weights=True)
    assert half.stat().st_size < 0.6 * full.stat().st_size
    session = make_session(half)
    assert session.get_outputs()[0].type == "tensor(float)"
    assert parity(model.half().float(), half, resolution=32) <= 1e-3


def test_parity_failure_writes_nothing(tmp_path, monkeypatch):
    import sketch2face.export as export

    monkeypatch.setattr(export, "parity", lambda *a, **k: 0.5)
    with pytest.raises(export.ExportError, match="differs"):
        export.export_onnx(create_model("unet-tiny"), tmp_path / "m.onnx", resolution=32)
    assert not (tmp_path / "m.onnx").exists()


def test_int8_quantisation_runs_close_to_fp32(tmp_path):
    model = create_model("unet-tiny", upsample="resize").eval()
    rng = np.random.default_rng(0)
    calibration = [rng.uniform(-1, 1, (1, 1, 32, 32)).astype(np.float32) for _ in range(8)]
    path = quantize_int8(model, tmp_path / "int8.onnx", calibration, resolution=32)
    session = make_session(path)
    got = session.run(None, {"sketch": calibration[0]})[0]
    with torch.no_grad():
        expected = model(torch.from_numpy(calibration[0])).numpy()
    assert got.shape == expected.shape
    assert np.isfinite(got).all()
    assert np.abs(got - expected).mean() < 0.1
    assert any(node.op_type == "QuantizeLinear" for node in __import__("onnx").load(str(path)).graph.node)


def test_pipeline_backends_agree_and_auto_prefers_onnx(tiny_model_dir, sketch_files):
    torch_pipe = SketchToFacePipeline(tiny_model_dir, backend="torch")
    assert SketchToFacePipeline(tiny_model_dir).backend_name == "torch"  # no ONNX file yet
    assert main(["export", "--model", str(tiny_model_dir), "--fp32-weights"]) == 0
    onnx_pipe = SketchToFacePipeline(tiny_model_dir)
    assert onnx_pipe.backend_name == "onnx"
    a = np.asarray(torch_pipe(sketch_files[0]), np.int16)
    b = np.asarray(onnx_pipe(sketch_files[0]), np.int16)
    assert np.abs(a - b).max() <= 1  # uint8 rounding of a <= 1e-3 difference


def test_backend_errors_say_what_to_do(tiny_model_dir):
    with pytest.raises(BackendUnavailableError, match="sketch2face export"):
        SketchToFacePipeline(tiny_model_dir, backend="onnx")
    with pytest.raises(BackendUnavailableError, match="onnx-int8"):
        SketchToFacePipeline(tiny_model_dir, backend="onnx", precision="int8")
    with pytest.raises(ValueError, match="bf16"):
        SketchToFacePipeline(tiny_model_dir, backend="onnx", precision="bf16")
    with pytest.raises(ValueError, match="backend"):
        SketchToFacePipeline(tiny_model_dir, backend="tensorrt")


def test_cli_export_int8_and_generate_with_it(tiny_model_dir, sketch_files, tmp_path, capsys):
    folder = sketch_files[0].parent
    assert main(["export", "--model", str(tiny_model_dir), "--format", "onnx-int8", "--calibration", str(folder)]) == 0
    assert (tiny_model_dir / INT8_FILE).is_file()
    out = tmp_path / "faces"
    assert main(["generate", str(folder), "--model", str(tiny_model_dir), "--backend", "onnx", "--precision", "int8",
                 "--output", str(out), "-q"]) == 0
    assert len(list(out.glob("*.png"))) == len(sketch_files)
    assert "onnx int8" in capsys.readouterr().err
    assert main(["export", "--model", str(tiny_model_dir), "--format", "onnx-int8",
                 "--calibration", str(tmp_path / "nothing-here")]) == 1


def test_light_install_runs_without_torch(tiny_model_dir, sketch_files, tmp_path):
    """Inference and the web app with ONNX Runtime only: torch imports are made to fail."""
    assert main(["export", "--model", str(tiny_model_dir)]) == 0
    script = textwrap.dedent(f"""
        import sys
        sys.modules["torch"] = None  # any 'import torch' now raises ImportError
        from sketch2face import SketchToFacePipeline
        pipe = SketchToFacePipeline({str(tiny_model_dir)!r})
        assert pipe.backend_name == "onnx", pipe.backend_name
        pipe({str(sketch_files[0])!r}).save({str(tmp_path / 'face.png')!r})
        from fastapi.testclient import TestClient
        from sketch2face.serve.app import ServeSettings, create_app
        app = create_app(ServeSettings(model={str(tiny_model_dir)!r}, data_dir={str(tmp_path / 'serve')!r}))
        with TestClient(app) as client:
            response = client.post("/api/generate", files={{"image": open({str(sketch_files[1])!r}, "rb")}})
            assert response.status_code == 200, response.text
        try:
            SketchToFacePipeline({str(tiny_model_dir)!r}, backend="torch")
        except Exception as error:
            assert "sketch2face[torch]" in str(error), error
        else:
            raise AssertionError("torch backend without torch")
        print("ok")
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("ok")
    assert (tmp_path / "face.png").is_file()
