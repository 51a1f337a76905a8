"""Which generator sizes fit the default's latency budget (issue 15, item 4: p50 <= 30 ms in ONNX Runtime).

    python benchmarks/capacity.py [--runs 30] [--threads 2] [--budget-ms 30]

Each candidate is the default's U-Net (8 levels, batch norm, resize decoder) at another width or
depth, with random weights (speed does not depend on their values), exported exactly as
``scripts/ship_model.py`` exports a release (ONNX fp32 graph with fp16-stored weights; int8 with the
same static quantisation, calibrated on 8 CUFS train sketches). Every
candidate is timed in its own fresh process: single-image forward p50/p95 after 5 warm-ups at
256x256. Run it alone on the CPU.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

#: name -> U-Net settings; "default" is sketch2face-v1 / sketch2face-long
CANDIDATES = {
    "default (32-256)": {"base_channels": 32, "max_channels": 256},
    "wider 40-320": {"base_channels": 40, "max_channels": 320},
    "wider 48-384": {"base_channels": 48, "max_channels": 384},
    "wider 64-512 (pix2pix)": {"base_channels": 64, "max_channels": 512},
    "wider inner 32-384": {"base_channels": 32, "max_channels": 384},
    "narrow 24-256": {"base_channels": 24, "max_channels": 256},
}
COMMON = {"in_channels": 1, "out_channels": 3, "num_downs": 8, "norm": "batch", "dropout": 0.5, "upsample": "resize"}


def child(settings: dict, runs: int, threads: int, folder: Path) -> None:
    """Runs in a fresh process: build, export, time both ONNX files."""
    import time

    import numpy as np
    import torch

    from sketch2face.backends import make_session
    from sketch2face.evaluate import data_root
    from sketch2face.export import calibration_batches, export_onnx, quantize_int8
    from sketch2face.models import create_model

    torch.manual_seed(0)
    model = create_model("unet", **COMMON, **settings).eval()
    parameters = sum(p.numel() for p in model.parameters())
    export_onnx(model, folder / "model.onnx", check_parity=False)
    calibration = calibration_batches([data_root() / "cufs" / "train" / "sketches"], 256, 8)
    quantize_int8(model, folder / "model.int8.onnx", calibration)
    sketch = calibration[0]
    result = {"parameters_m": parameters / 1e6}
    for label, file in (("fp32", "model.onnx"), ("int8", "model.int8.onnx")):
        session = make_session(folder / file, threads)
        feed = {session.get_inputs()[0].name: sketch}
        for _ in range(5):
            session.run(None, feed)
        times = []
        for _ in range(runs):
            began = time.perf_counter()
            session.run(None, feed)
            times.append(time.perf_counter() - began)
        result[f"{label}_p50_ms"] = 1000 * float(np.percentile(times, 50))
        result[f"{label}_p95_ms"] = 1000 * float(np.percentile(times, 95))
        result[f"{label}_mb"] = (folder / file).stat().st_size / 1e6
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--budget-ms", type=float, default=30.0)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        with tempfile.TemporaryDirectory() as folder:
            child(json.loads(args.child), args.runs, args.threads, Path(folder))
        return

    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    print(f"# ONNX Runtime latency by generator size, 256x256, batch 1, {args.threads} threads, {args.runs} timed "
          f"runs, {platform.processor() or platform.machine()}, {os.cpu_count()} cores; budget p50 <= "
          f"{args.budget_ms:g} ms")
    print("| generator | parameters (M) | fp32 p50 (ms) | fp32 p95 (ms) | int8 p50 (ms) | int8 p95 (ms) "
          "| fp32 file (MB) | fits fp32 | fits int8 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, settings in CANDIDATES.items():
        done = subprocess.run([sys.executable, __file__, "--child", json.dumps(settings), "--runs", str(args.runs),
                               "--threads", str(args.threads)], capture_output=True, text=True, env=env)
        if done.returncode != 0:
            print(f"| {name} | error: {(done.stderr.strip().splitlines() or ['failed'])[-1]} ||||||||")
            continue
        row = json.loads(done.stdout.strip().splitlines()[-1])
        fits = {p: "yes" if row[f"{p}_p50_ms"] <= args.budget_ms else "no" for p in ("fp32", "int8")}
        print(f"| {name} | {row['parameters_m']:.1f} | {row['fp32_p50_ms']:.1f} | {row['fp32_p95_ms']:.1f} | "
              f"{row['int8_p50_ms']:.1f} | {row['int8_p95_ms']:.1f} | {row['fp32_mb']:.1f} | {fits['fp32']} | "
              f"{fits['int8']} |", flush=True)


if __name__ == "__main__":
    main()
