"""Load test of the web app: N clients POST sketches to /api/generate for a fixed time.

    python benchmarks/web_load.py [--clients 8] [--seconds 60] [--workers 2] [--model NAME] [--url URL]
    python benchmarks/web_load.py --big-upload-gb 1 [--workers 2]

Without --url a server (`sketch2face serve --workers N`, default model unless --model, no generation
rate limit) is started on a free loopback port and stopped afterwards. Each client sends the example
sketches in turn (multipart, PNG answer) and waits for the answer before the next request. Prints
requests/s, latency percentiles and errors (any non-200 answer or transport failure).

--big-upload-gb G instead streams one G-GB body (with its Content-Length) to /api/generate and
prints the answer and the server processes' resident memory before and after: the upload limit must
refuse it (413) without reading it into memory.
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model: str | None, data_dir: Path, workers: int = 1) -> tuple[subprocess.Popen, str]:
    port = free_port()
    command = [str(Path(sys.executable).with_name("sketch2face")), "serve", "--port", str(port),
               "--data-dir", str(data_dir), "--workers", str(workers), "--generations-per-minute", "1000000"]
    if model:
        command += ["--model", model]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/api/health", timeout=2).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.2)
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {process.stderr.read().decode()}")
    process.kill()
    raise RuntimeError("server did not start within 60 s")


def client_loop(url: str, sketches: list[bytes], stop_at: float, latencies: list, errors: list, lock) -> None:
    with httpx.Client(timeout=60) as client:
        i = 0
        while time.monotonic() < stop_at:
            body = sketches[i % len(sketches)]
            i += 1
            began = time.perf_counter()
            try:
                response = client.post(url + "/api/generate", files={"image": ("sketch.jpg", body, "image/jpeg")})
                ok = response.status_code == 200 and response.content[:4] == b"\x89PNG"
            except httpx.HTTPError as error:
                ok, response = False, error
            elapsed = time.perf_counter() - began
            with lock:
                (latencies if ok else errors).append(elapsed if ok else str(getattr(response, "status_code", response)))


def server_rss_mb(process: subprocess.Popen) -> float:
    """Resident memory of the server and its worker processes (Linux /proc), in MB."""
    pids = [process.pid]
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
    if children.is_file():
        pids += [int(p) for p in children.read_text().split()]
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def big_upload(url: str, process: subprocess.Popen, gigabytes: float) -> None:
    chunk = b"\0" * (1 << 20)
    size = int(gigabytes * 1024**3) // len(chunk) * len(chunk)

    def body():
        for _ in range(size // len(chunk)):
            yield chunk

    before = server_rss_mb(process)
    for _ in range(30):  # every worker has loaded its model when the memory stops growing
        time.sleep(1.0)
        before, previous = server_rss_mb(process), before
        if abs(before - previous) < 1:
            break
    began = time.perf_counter()
    try:
        response = httpx.post(url + "/api/generate", content=body(), timeout=120,
                              headers={"content-type": "image/png", "content-length": str(size)})
        answer = f"{response.status_code} {response.text[:80]}"
    except httpx.HTTPError as error:  # the server may answer and close before the body is sent
        answer = f"connection ended by the server while sending ({type(error).__name__})"
    seconds = time.perf_counter() - began
    after = server_rss_mb(process)
    print(f"# {gigabytes:g} GB upload to /api/generate: {answer}; {seconds:.2f} s; server memory "
          f"{before:.0f} MB before, {after:.0f} MB after")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--model", default=None)
    parser.add_argument("--url", default=None, help="an already running server")
    parser.add_argument("--workers", type=int, default=1, help="worker processes of the started server")
    parser.add_argument("--big-upload-gb", type=float, default=None,
                        help="send one body this large instead and watch the server's memory")
    args = parser.parse_args()

    sketches = [p.read_bytes() for p in sorted((ROOT / "examples").glob("*.jpg"))]
    process = None
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        url = args.url
        if url is None:
            process, url = start_server(args.model, Path(tmp) / "serve", args.workers)
        try:
            if args.big_upload_gb is not None:
                big_upload(url, process, args.big_upload_gb)
                return
            model = httpx.get(url + "/api/models").json()["default"] if args.model is None else args.model
            latencies, errors, lock = [], [], threading.Lock()
            began = time.monotonic()
            stop_at = began + args.seconds
            threads = [threading.Thread(target=client_loop, args=(url, sketches, stop_at, latencies, errors, lock))
                       for _ in range(args.clients)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.monotonic() - began
        finally:
            if process:
                process.terminate()
                process.wait(timeout=30)
    ms = 1000 * np.asarray(latencies) if latencies else np.zeros(1)
    print(f"# web load: {args.clients} clients, {args.seconds:.0f} s, model {model}, {args.workers} worker(s), "
          f"{os.cpu_count()} cores, "
          "POST /api/generate with the 200x250 JPEG sketches in examples/ (PNG answers)")
    print("| clients | requests | requests/s | p50 (ms) | p95 (ms) | p99 (ms) | errors |")
    print("|---|---|---|---|---|---|---|")
    print(f"| {args.clients} | {len(latencies) + len(errors)} | {len(latencies) / wall:.1f} | "
          f"{np.percentile(ms, 50):.0f} | {np.percentile(ms, 95):.0f} | {np.percentile(ms, 99):.0f} | {len(errors)} |")
    if errors:
        print("errors:", sorted(set(errors))[:10])


if __name__ == "__main__":
    main()
