"""Inference speed of the default model in every backend against a reference pix2pix U-Net, one run.

    python benchmarks/latency.py [--model NAME] [--runs 50] [--threads 2]

Rows (each measured in its own fresh process, so memory and cold start are not shared):
  reference      pix2pix U-Net (64 base channels, 8 levels, batch norm; the in-repo `unet` with its
                 defaults), PyTorch fp32 eager, random weights (speed does not depend on their values)
  torch fp32     the model in PyTorch, fp32 eager
  torch bf16     the model in PyTorch, bf16 autocast + channels_last
  onnx fp32      ONNX Runtime, model.onnx
  onnx int8      ONNX Runtime, model.int8.onnx (static int8)
Columns: single-image (batch 1) forward latency p50/p95 over --runs calls after 5 warm-ups at
256x256; batch-16 throughput; cold start = process start to the first face written (imports,
model load, one image); peak resident memory of the process. Ratios are against the reference row.
A last table times `sketch2face generate ONE_SKETCH` (the whole CLI) from process start to exit.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "cufs_test_7.jpg"
VARIANTS = ["reference", "torch-fp32", "torch-bf16", "onnx-fp32", "onnx-int8"]


def child(variant: str, model: str, runs: int, started: float, threads: int, output: Path) -> None:
    """Runs in a fresh process: build, write one face (cold start), then time forwards."""
    import numpy as np

    if variant == "reference":
        import torch

        torch.set_num_threads(threads)
        from sketch2face.models import create_model
        from sketch2face.pipeline import SketchToFacePipeline

        torch.manual_seed(0)
        pipe = SketchToFacePipeline(create_model("unet").eval(), backend="torch", precision="fp32")
    else:
        backend, precision = variant.split("-")
        if backend == "torch":
            import torch

            torch.set_num_threads(threads)
        from sketch2face.pipeline import SketchToFacePipeline

        pipe = SketchToFacePipeline(model, backend=backend, precision=precision)
        if backend == "torch" and precision == "bf16":
            pipe.backend.generator.to(memory_format=torch.channels_last)
    face = pipe(str(EXAMPLE))
    face.save(output / f"{variant}.png")
    cold = time.time() - started

    batch1 = pipe.preprocess(str(EXAMPLE)).values[None]
    for _ in range(5):
        pipe.predict(batch1)
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        pipe.predict(batch1)
        times.append(time.perf_counter() - began)
    batch16 = np.repeat(batch1, 16, axis=0)
    pipe.predict(batch16)
    began = time.perf_counter()
    repeats = 3
    for _ in range(repeats):
        pipe.predict(batch16)
    throughput = 16 * repeats / (time.perf_counter() - began)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"variant": variant, "p50_ms": 1000 * float(np.percentile(times, 50)),
                      "p95_ms": 1000 * float(np.percentile(times, 95)), "batch16_img_s": throughput,
                      "cold_start_s": cold, "peak_mb": peak_mb, "backend": pipe.backend_name}))


def run_variant(variant: str, args, output: Path) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    started = time.time()
    result = subprocess.run([sys.executable, __file__, "--child", variant, "--model", args.model, "--runs",
                             str(args.runs), "--started", repr(started), "--threads", str(args.threads),
                             "--output", str(output)], capture_output=True, text=True, env=env)
    if result.returncode != 0:
        return {"variant": variant, "error": result.stderr.strip().splitlines()[-1] if result.stderr else "failed"}
    return json.loads(result.stdout.strip().splitlines()[-1])


def time_cli(backend: str, precision: str | None, model: str, output: Path) -> float:
    command = [str(Path(sys.executable).with_name("sketch2face")), "generate", str(EXAMPLE), "--output",
               str(output / f"cli-{backend}"), "--model", model, "--backend", backend, "-q"]
    if precision:
        command += ["--precision", precision]
    began = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="sketch2face-v1")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--started", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.model, args.runs, args.started, args.threads, args.output)
        return

    with tempfile.TemporaryDirectory() as tmp:
        output = Path(tmp)
        rows = [run_variant(v, args, output) for v in args.variants.split(",")]
        cli = {label: time_cli(backend, precision, args.model, output)
               for label, backend, precision in [("auto (ONNX Runtime fp32)", "auto", None),
                                                 ("torch fp32", "torch", "fp32")]}
    cpu = platform.processor() or platform.machine()
    print(f"# inference latency, model {args.model}, 256x256, {args.threads} threads, {args.runs} timed runs, "
          f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}")
    reference = next((r for r in rows if r["variant"] == "reference" and "error" not in r), None)
    print("| variant | p50 (ms) | p95 (ms) | p50 speed-up vs reference | batch-16 (img/s) | cold start (s) "
          "| peak memory (MB) |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        if "error" in row:
            print(f"| {row['variant']} | error: {row['error']} |||||")
            continue
        ratio = reference["p50_ms"] / row["p50_ms"] if reference else float("nan")
        print(f"| {row['variant']} | {row['p50_ms']:.1f} | {row['p95_ms']:.1f} | {ratio:.1f}x | "
              f"{row['batch16_img_s']:.1f} | {row['cold_start_s']:.2f} | {row['peak_mb']:.0f} |")
    print()
    print("| `sketch2face generate` one image, process start to exit | seconds |")
    print("|---|---|")
    for label, seconds in cli.items():
        print(f"| {label} | {seconds:.2f} |")


if __name__ == "__main__":
    main()
