"""``create_app``: the FastAPI application. The lifespan loads the default model once; routes stay
thin and call ``SketchToFacePipeline`` (in a worker thread, one inference at a time)."""
from __future__ import annotations

import functools
import json
import mimetypes
import threading
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from .security import BodyTooLarge, readable_size

# ONNX Runtime Web loads its WebAssembly glue as an ES module: browsers refuse a module served as
# text/plain, which is what Python's table gives .mjs files without this entry
mimetypes.add_type("text/javascript", ".mjs")

ISOLATION_HEADERS = {"Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp",
                     "Cross-Origin-Resource-Policy": "same-origin"}



@dataclass
class ServeSettings:
    model: str | None = None
    """Bundled model name or release folder (default: the default model)."""
    data_dir: str = "serve-data"
    """Where the database (SQLite default) and history images live."""
    database_url: str | None = None
    """SQLAlchemy URL; default sqlite:///DATA_DIR/sketch2face.db."""
    max_upload_bytes: int = 10 * 1024 * 1024
    max_pixels: int = 25_000_000
    session_days: int = 14
    secure_cookies: bool = False
    """Set the cookie Secure flag (behind HTTPS)."""
    login_attempts_per_minute: int = 5
    generations_per_minute: int = 60
    """Per client address; more get 429 with Retry-After (each worker process counts on its own)."""
    live_model: str | None = "sketch2face-v1-small"
    """Bundled model (with an ONNX file) the page runs itself, in the browser, for the live preview;
    None turns in-browser previews off (the page then previews through the server)."""


class LimitBodySize:
    """ASGI middleware: refuse request bodies over the limit, by Content-Length or while streaming,
    before any of it is parsed or stored."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        too_large = JSONResponse({"error": f"request body over the {readable_size(self.max_bytes)} limit"},
                                 status_code=413)
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            return await too_large(scope, receive, send)
        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge()
            return message

        try:
            await self.app(scope, limited_receive, send)
        except BodyTooLarge:
            await too_large(scope, receive, send)


class ModelStore:
    """Pipelines by model name, loaded on first use (the default at start-up); one inference at a time
    so concurrent requests do not oversubscribe the CPU."""

    def __init__(self, default: str | None):
        from ..io import DEFAULT_MODEL

        self.default = default or DEFAULT_MODEL
        self._pipelines = {}
        self._load_lock = threading.Lock()
        self.inference_lock = threading.Lock()

    def get(self, name: str | None):
        from ..pipeline import SketchToFacePipeline

        name = name or self.default
        with self._load_lock:
            if name not in self._pipelines:
                self._pipelines[name] = SketchToFacePipeline(name)
            return self._pipelines[name]

    @functools.cached_property
    def _runnable(self) -> list[str]:
        from ..io import Release, bundled_models
        from ..pipeline import runs_here

        return [n for n in bundled_models() if Release.open(n).direction == "sketch_to_photo" and runs_here(n)]

    def names(self) -> list[str]:
        """The default and every bundled sketch -> photo model that runs with what is installed (the
        light install has no PyTorch; reverse models are for `sketchify`)."""
        names = self._runnable
        return names if self.default in names else [self.default, *names]


#: Where `sketch2face serve --workers N` hands its settings to the worker processes (JSON).
SETTINGS_ENV = "SKETCH2FACE_SERVE_SETTINGS"


def app_from_environment() -> FastAPI:
    """The app with the settings in $SKETCH2FACE_SERVE_SETTINGS: the factory each uvicorn worker
    process calls (``uvicorn.run("sketch2face.serve.app:app_from_environment", factory=True, workers=N)``)."""
    import os

    return create_app(ServeSettings(**json.loads(os.environ.get(SETTINGS_ENV, "{}"))))


def open_database(settings: ServeSettings):
    """The engine and session factory of the settings' database (SQLite in ``data_dir`` by default),
    its schema migrated to the newest revision."""
    from .db import make_session_factory

    data_dir = Path(settings.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    return make_session_factory(settings.database_url or f"sqlite:///{(data_dir / 'sketch2face.db').resolve()}")


def create_app(settings: ServeSettings | None = None) -> FastAPI:
    """Build the app; the model and database are opened in the lifespan."""
    from .routes import STATIC_DIR, router
    from .security import RateLimiter

    settings = settings or ServeSettings()
    data_dir = Path(settings.data_dir)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        engine, session_factory = open_database(settings)
        app.state.settings = settings
        app.state.data_dir = data_dir
        app.state.db = session_factory
        app.state.models = ModelStore(settings.model)
        app.state.models.get(None)  # load the default model once, before the first request
        app.state.login_limiter = RateLimiter(settings.login_attempts_per_minute, 60.0)
        app.state.generate_limiter = RateLimiter(settings.generations_per_minute, 60.0)
        yield
        engine.dispose()

    app = FastAPI(title="sketch2face", version=__import__("sketch2face").__version__, lifespan=lifespan,
                  description="Turn face sketches into photorealistic face photos. Generated images are "
                              "likenesses made by a model, not photographs of a real person.")
    app.add_middleware(LimitBodySize, max_bytes=settings.max_upload_bytes)

    @app.middleware("http")
    async def isolate(request: Request, call_next):
        # cross-origin isolation lets ONNX Runtime Web run the live preview on several threads
        # (SharedArrayBuffer); its worker scripts need the same headers as the page. Everything the
        # page loads is same-origin, so nothing else changes.
        response = await call_next(request)
        response.headers.update(ISOLATION_HEADERS)
        return response

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        message = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        return JSONResponse({"error": message}, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return JSONResponse({"error": f"invalid request: {problems}"}, status_code=422)

    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
