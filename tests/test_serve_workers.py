"""`sketch2face serve --workers 2` with one SQLite database: 8 clients at once sign up and save
history; no request fails (no "database is locked"), no row is lost."""
from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from conftest import draw_pair

pytest.importorskip("uvicorn")


def _png(seed: int) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(draw_pair(seed, size=64)[0]).save(buffer, format="PNG")
    return buffer.getvalue()


def test_two_workers_share_the_database(tiny_model_dir, tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    script = Path(sys.executable).parent / "sketch2face"
    server = subprocess.Popen([str(script), "serve", "--workers", "2", "--port", str(port), "--model",
                               str(tiny_model_dir), "--data-dir", str(tmp_path / "serve")],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{url}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and server.poll() is None, server.stderr.read() if server.poll() else ""
            time.sleep(0.2)

        def client_session(index: int) -> list[int]:
            with httpx.Client(base_url=url, timeout=60) as client:
                reply = client.post("/api/signup", json={"username": f"user{index}", "password": "long enough"})
                codes = [reply.status_code]
                csrf = reply.json().get("csrf_token", "")
                for k in range(3):
                    codes.append(client.post("/api/generate", files={"image": ("s.png", _png(index * 10 + k))},
                                             headers={"X-CSRF-Token": csrf}).status_code)
                codes.append(len(client.get("/api/history").json()["items"]))
                return codes

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(client_session, range(8)))
        assert results == [[201, 200, 200, 200, 3]] * 8, results
    finally:
        server.send_signal(signal.SIGTERM)
        _, err = server.communicate(timeout=60)
    assert "database is locked" not in err
    assert server.returncode == 0, err[-2000:]
