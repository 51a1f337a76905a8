"""The server as deployed: `sketch2face serve --workers 2` with one SQLite database (8 clients at once
sign up and save history; no request fails, no row is lost), PostgreSQL instead of SQLite, schema
migrations, and a shutdown that lets a request in flight finish."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_server(*arguments: str) -> tuple[subprocess.Popen, str]:
    """``sketch2face serve ARGUMENTS`` on a free port, once it answers /api/health."""
    port = _free_port()
    script = Path(sys.executable).parent / "sketch2face"
    server = subprocess.Popen([str(script), "serve", "--port", str(port), *arguments],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            if httpx.get(f"{url}/api/health", timeout=2).status_code == 200:
                return server, url
        except httpx.TransportError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            raise AssertionError(f"the server did not start: {server.communicate()[1][-2000:]}")
        time.sleep(0.2)


def _clients_sign_up_and_save_history(url: str, clients: int) -> list[list[int]]:
    """``clients`` users at once, each signing up and generating three faces; per user the status codes
    and the length of their history."""
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

    with ThreadPoolExecutor(clients) as pool:
        return list(pool.map(client_session, range(clients)))


def _two_workers_serve_clients(model_dir: Path, data_dir: Path, clients: int, *arguments: str) -> str:
    """``serve --workers 2 ARGUMENTS`` while ``clients`` users sign up and save history at once; every
    request succeeds, every row is there, and SIGTERM stops the server cleanly. Returns its stderr."""
    server, url = _start_server("--workers", "2", "--model", str(model_dir), "--data-dir", str(data_dir), *arguments)
    try:
        results = _clients_sign_up_and_save_history(url, clients)
        assert results == [[201, 200, 200, 200, 3]] * clients, results
    finally:
        server.send_signal(signal.SIGTERM)
        _, err = server.communicate(timeout=60)
    assert server.returncode == 0, err[-2000:]
    return err


def test_two_workers_share_the_database(tiny_model_dir, tmp_path):
    err = _two_workers_serve_clients(tiny_model_dir, tmp_path / "serve", 8)
    assert "database is locked" not in err


@pytest.fixture
def postgres_url():
    """A throwaway PostgreSQL server (Debian's postgresql package) on a free port, or the one
    $SKETCH2FACE_TEST_POSTGRES_URL names."""
    if os.environ.get("SKETCH2FACE_TEST_POSTGRES_URL"):
        yield os.environ["SKETCH2FACE_TEST_POSTGRES_URL"]
        return
    pytest.importorskip("psycopg")
    servers = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if not servers:
        pytest.skip("no PostgreSQL server: apt-get install postgresql")
    bindir = servers[-1].parent
    # PostgreSQL refuses to run as root: then it runs as the postgres user, in a folder it owns
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    folder = Path(tempfile.mkdtemp(prefix="sketch2face-pg-"))
    if as_postgres:
        shutil.chown(folder, "postgres", "postgres")
    data, port = folder / "data", _free_port()
    subprocess.run([*as_postgres, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "sketch2face"],
                   check=True, capture_output=True)
    subprocess.run([*as_postgres, str(bindir / "pg_ctl"), "-D", str(data), "-w", "-l", str(folder / "log"), "-o",
                    f"-p {port} -k {folder} -c listen_addresses=127.0.0.1", "start"], check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg://sketch2face@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_postgres, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"],
                       capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def test_two_workers_on_postgresql(tiny_model_dir, tmp_path, postgres_url):
    """The same with ``--database-url postgresql+psycopg://...``: the schema is migrated on PostgreSQL
    and concurrent writers lose nothing."""
    from sqlalchemy import create_engine, text

    _two_workers_serve_clients(tiny_model_dir, tmp_path / "serve", 4, "--database-url", postgres_url)
    engine = create_engine(postgres_url)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM history")).scalar_one() == 12
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    engine.dispose()
    assert not (tmp_path / "serve" / "sketch2face.db").exists()  # nothing went to SQLite


def test_shutdown_lets_a_request_in_flight_finish(tiny_model_dir, tmp_path):
    """SIGTERM while an upload is still arriving: the request is answered (200) and the server exits 0."""
    server, url = _start_server("--model", str(tiny_model_dir), "--data-dir", str(tmp_path / "serve"))
    body = _png(1)

    def slow_upload():
        for start in range(0, len(body), len(body) // 8 + 1):
            yield body[start:start + len(body) // 8 + 1]
            time.sleep(0.25)

    try:
        with ThreadPoolExecutor(1) as pool:
            reply = pool.submit(httpx.post, f"{url}/api/generate", content=slow_upload(),
                                headers={"Content-Type": "image/png"}, timeout=60)
            time.sleep(0.6)  # the upload has started and has more than a second to go
            server.send_signal(signal.SIGTERM)
            assert reply.result().status_code == 200
            assert reply.result().headers["content-type"] == "image/png"
        _, err = server.communicate(timeout=60)  # and then it stops by itself
        # uvicorn re-raises the signal once it has shut down, as a service manager expects
        assert server.returncode in (0, -signal.SIGTERM) and "Traceback" not in err, err[-2000:]
    finally:
        if server.poll() is None:
            server.kill()


def test_migrations_build_the_schema_the_models_declare_and_adopt_older_databases(tmp_path):
    """A new database gets every revision and ends exactly as ``db.py`` declares it (a model change
    without a migration fails here); a database made before migrations existed is adopted as the
    first revision, its rows kept."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine, text

    from sketch2face.serve.db import FIRST_REVISION, Base, migrate

    fresh = create_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    migrate(fresh)
    with fresh.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
        head = connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one()

    older = create_engine(f"sqlite:///{tmp_path / 'older.db'}")
    Base.metadata.create_all(older)  # what releases before migrations did
    with older.begin() as connection:
        connection.execute(text("INSERT INTO users (username, password_hash, created) VALUES ('ann', 'x', '2026-01-01')"))
    migrate(older)
    migrate(older)  # at the newest revision already: nothing to do
    with older.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == head
        assert connection.execute(text("SELECT username FROM users")).scalars().all() == ["ann"]
    assert head == FIRST_REVISION  # the next revision updates this line
