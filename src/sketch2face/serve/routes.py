"""REST routes. Thin: parse and check the request, call the pipeline or the database, answer.

Errors are JSON ``{"error": "..."}`` with a 4xx status; bad images never reach the model.
"""
from __future__ import annotations

import datetime as dt
import io
import re
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi import Path as PathParameter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse
from PIL import Image, ImageDraw
from pydantic import BaseModel, Field
from sqlalchemy import select

from ..backends import BackendUnavailableError
from ..data.transforms import InputImageError, load_image
from ..io import ONNX_FILE, ModelNotFoundError, Release, atomic_write_bytes, resolve_model_dir
from .db import HistoryItem, LoginSession, User, utcnow
from .security import BodyTooLarge, hash_password, new_token, token_digest, verify_password

if TYPE_CHECKING:  # the pipeline (numpy, OpenCV) loads when a model is first used, not with the routes
    from ..pipeline import PreparedSketch

#: A history item's id in a URL: a database integer (SQLite's is 64-bit), else 422, not a 500.
HistoryId = Annotated[int, PathParameter(ge=1, le=2**63 - 1)]
#: The page, its script and its styles (served at / and /static).
STATIC_DIR = Path(__file__).parent / "static"
router = APIRouter()
SESSION_COOKIE = "sketch2face_session"
USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{3,32}$")
IMAGE_TYPES = {"image/png", "image/jpeg", "image/webp", "image/bmp", "image/tiff", "image/gif",
               "application/octet-stream"}
GENERATE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {"schema": {"type": "object", "required": ["image"], "properties": {
                "image": {"type": "string", "format": "binary", "description": "the sketch"},
                "model": {"type": "string"}, "format": {"type": "string", "enum": ["png", "jpeg"]},
                "watermark": {"type": "boolean"},
                "fidelity": {"type": "number", "minimum": 0, "maximum": 1,
                             "description": "1: follow the strokes exactly (default); 0: the most plausible "
                                            "drawing near them"},
                "align": {"type": "boolean", "description": "bring a small or off-centre drawing to the "
                                                            "model's framing (default true)"},
                "compose": {"type": "boolean", "description": "line drawings: compose a face from real face "
                                                              "parts (a photo, or a pencil portrait the model "
                                                              "renders, as the model says; default: what the "
                                                              "model says; the default model composes)"},
                "variation": {"type": "integer", "minimum": 0, "maximum": 1000,
                              "description": "with compose: 0 the best face parts, N the N-th next (another face)"},
                "photographed": {"type": "boolean",
                                 "description": "the drawing was photographed on grey paper and whitened by "
                                                "POST /api/clean before it went on the canvas: judge it as "
                                                "a photographed drawing (default false)"},
                "keep_base": {"type": "integer", "minimum": 0,
                              "description": "with compose: the X-Base-Face of the previous result for the same "
                                             "drawing; that person is kept while the drawing still fits them "
                                             "(a page previewing while someone draws sends it back)"}}}},
            "image/png": {"schema": {"type": "string", "format": "binary"}},
            "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
        },
    },
    "responses": {"200": {"content": {"image/png": {}, "image/jpeg": {}}, "description": "the generated face"}},
}


class Credentials(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class AccountDeletion(BaseModel):
    password: str = Field(min_length=1, max_length=256)


# ---------------------------------------------------------------- pages and service information

#: ONNX Runtime Web, installed by `make install` (npm) beside the page; without it, no in-browser preview.
ORT_WEB_DIR = STATIC_DIR / "vendor" / "ort"


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def index() -> HTMLResponse:
    return HTMLResponse((STATIC_DIR / "index.html").read_text())


def _live_model_file(request: Request) -> Path | None:
    """The ONNX file of the live-preview model, when the page can run it (ORT Web installed)."""
    name = request.app.state.settings.live_model
    if not name or not (ORT_WEB_DIR / "ort.wasm.min.js").is_file():
        return None
    try:
        path = resolve_model_dir(name) / ONNX_FILE
    except ModelNotFoundError:
        return None
    return path if path.is_file() else None


@router.get("/api/live")
def live(request: Request) -> dict:
    """What the page needs to preview in the browser: the model's name, ONNX URL and resolution, and
    where ONNX Runtime Web lives; ``available`` is false when it cannot (then it previews via the server)."""
    path = _live_model_file(request)
    if path is None:
        return {"available": False}
    name = request.app.state.settings.live_model
    return {"available": True, "model": name, "model_url": "/api/live/model.onnx",
            "resolution": Release.open(path.parent).resolution,
            "runtime_url": "/static/vendor/ort/"}


@router.get("/api/live/model.onnx", include_in_schema=False)
def live_model(request: Request) -> FileResponse:
    path = _live_model_file(request)
    if path is None:
        raise HTTPException(404, "no in-browser preview model here")
    return FileResponse(path, media_type="application/octet-stream",
                        headers={"Cache-Control": "public, max-age=86400"})


@router.get("/api/health")
def health(request: Request) -> dict:
    return {"status": "ok", "default_model": request.app.state.models.default}


@router.get("/api/models")
def models(request: Request) -> dict:
    store = request.app.state.models
    names = store.names()
    return {"default": store.default, "models": names,
            "composing": [name for name in names if Release.open(name).compose_lines]}


# ---------------------------------------------------------------- generation

def _watermark(image: Image.Image) -> Image.Image:
    marked = image.copy()
    draw = ImageDraw.Draw(marked)
    text = "AI-generated"
    box = draw.textbbox((0, 0), text)
    x, y = marked.width - (box[2] - box[0]) - 6, marked.height - (box[3] - box[1]) - 6
    draw.rectangle((x - 3, y - 2, marked.width - 3, marked.height - 3), fill=(0, 0, 0))
    draw.text((x, y - box[1]), text, fill=(255, 255, 255))
    return marked


def _encode(image: Image.Image, fmt: str, model_name: str) -> bytes:
    from ..outputs import save_generated

    buffer = io.BytesIO()
    save_generated(image, buffer, model_name, "jpg" if fmt == "jpeg" else "png")
    return buffer.getvalue()


def _limit_rate(request: Request) -> None:
    """Generations and cleaned uploads share one budget per address: both run the image pipeline."""
    limiter = request.app.state.generate_limiter
    client = f"ip:{request.client.host if request.client else 'unknown'}"
    if not limiter.allow(client):
        raise HTTPException(429, "too many requests from this address; try again shortly",
                            headers={"Retry-After": str(limiter.retry_after(client))})


def _flag(options: dict[str, str], key: str, default: bool) -> bool:
    """A true/false form field or query parameter; anything else is a 422, not a guess."""
    value = options.get(key)
    if value is None:
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise HTTPException(422, f"{key} must be true or false, not {value[:40]!r}")


def _unreadable(error: InputImageError) -> HTTPException:
    return HTTPException(422, str(error).replace("<", "").replace(">", ""))


async def _read_image_upload(request: Request) -> tuple[bytes, dict[str, str]]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    options = {k: v for k, v in request.query_params.items()}
    if content_type == "multipart/form-data":
        try:
            form = await request.form(max_files=1, max_fields=10)
        except BodyTooLarge:  # the upload limit, met while streaming a body of unknown length: a 413
            raise
        except Exception as error:  # malformed multipart bodies raise parser-specific errors
            raise HTTPException(400, f"malformed multipart form: {error}") from None
        upload = form.get("image")
        if upload is None or isinstance(upload, str):
            raise HTTPException(422, "the form needs a file in the field 'image'")
        data = await upload.read()
        options.update({k: v for k, v in form.items() if isinstance(v, str)})
    elif content_type in IMAGE_TYPES:
        data = await request.body()
    else:
        raise HTTPException(415, f"send the sketch as multipart/form-data (field 'image') or as a raw image body, "
                                 f"not {content_type or 'no content type'}")
    if not data:
        raise HTTPException(422, "the uploaded file is empty")
    return data, options


def _current_session(request: Request) -> LoginSession | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    with request.app.state.db() as db:
        session = db.get(LoginSession, token_digest(token))
        if session is None or session.expires < utcnow():
            return None
        db.expunge(session)
        return session


def _require_csrf(request: Request, session: LoginSession) -> None:
    if request.headers.get("x-csrf-token") != session.csrf_token:
        raise HTTPException(403, "missing or wrong X-CSRF-Token header (get it from GET /api/me)")


@router.post("/api/generate", openapi_extra=GENERATE_BODY, response_class=Response,
             summary="Turn a sketch into a face (multipart field 'image' or a raw image body)")
async def generate(request: Request) -> Response:
    _limit_rate(request)
    data, options = await _read_image_upload(request)
    fmt = options.get("format", "png").lower()
    if fmt not in ("png", "jpeg", "jpg"):
        raise HTTPException(422, "format must be png or jpeg")
    fmt = "jpeg" if fmt == "jpg" else fmt
    watermark = _flag(options, "watermark", False)
    align = _flag(options, "align", True)
    photographed = _flag(options, "photographed", False)
    try:
        fidelity = float(options.get("fidelity", "1"))
    except ValueError:
        raise HTTPException(422, "fidelity must be a number between 0 and 1") from None
    if not 0.0 <= fidelity <= 1.0:  # also refuses nan
        raise HTTPException(422, "fidelity must be a number between 0 and 1")
    compose = None if "compose" not in options else _flag(options, "compose", False)
    try:
        variation = int(options.get("variation", "0"))
    except ValueError:
        raise HTTPException(422, "variation must be a whole number from 0 to 1000") from None
    if not 0 <= variation <= 1000:
        raise HTTPException(422, "variation must be a whole number from 0 to 1000")
    try:
        keep_base = int(options["keep_base"]) if options.get("keep_base", "") != "" else None
    except ValueError:
        raise HTTPException(422, "keep_base must be a whole number (a previous X-Base-Face)") from None
    if keep_base is not None and keep_base < 0:
        raise HTTPException(422, "keep_base must be a whole number (a previous X-Base-Face)")
    store = request.app.state.models
    model_name = options.get("model") or None
    if model_name is not None and model_name not in store.names():
        raise HTTPException(422, f"unknown model {model_name!r}; choose from {store.names()}")
    try:
        pipe = await run_in_threadpool(store.get, model_name)
    except (ModelNotFoundError, BackendUnavailableError) as error:
        raise HTTPException(422, str(error)) from None

    def run() -> tuple[Image.Image, Image.Image, PreparedSketch]:
        sketch_image = load_image(data, max_pixels=request.app.state.settings.max_pixels)
        with store.inference_lock:
            result = next(pipe.run([sketch_image], fidelity=fidelity, align=align, compose=compose,
                                   variation=variation, keep_base=keep_base, photographed=photographed))
        if result.error is not None:
            raise result.error
        return Image.fromarray(result.prepared.greyscale), result.face, result.prepared

    try:
        sketch, face, prepared = await run_in_threadpool(run)
    except InputImageError as error:
        raise _unreadable(error) from None
    if watermark:
        face = _watermark(face)
    encoded = _encode(face, fmt, pipe.model_name)
    session = _current_session(request)
    if session is not None and request.headers.get("x-csrf-token") == session.csrf_token:
        await run_in_threadpool(_save_history, request, session.user_id, pipe.model_name, sketch, encoded, fmt)
    composed = prepared.composed
    return Response(encoded, media_type=f"image/{fmt}",
                    headers={"X-Model": pipe.model_name, "X-Composed": "true" if composed else "false",
                             "X-Variation": str(variation) if composed else "0",
                             "X-Base-Face": str(prepared.base_face) if prepared.base_face is not None else "",
                             "Content-Disposition": f'inline; filename="face.{fmt}"'})


def _save_history(request: Request, user_id: int, model_name: str, sketch: Image.Image, face: bytes, fmt: str) -> None:
    folder = request.app.state.data_dir / "history" / str(user_id)
    stem = uuid.uuid4().hex
    sketch_path, face_path = folder / f"{stem}-sketch.png", folder / f"{stem}-face.{fmt}"
    buffer = io.BytesIO()
    sketch.save(buffer, format="PNG")
    atomic_write_bytes(sketch_path, buffer.getvalue())
    atomic_write_bytes(face_path, face)
    try:
        with request.app.state.db() as db, db.begin():
            db.add(HistoryItem(user_id=user_id, model=model_name, sketch_file=sketch_path.name, face_file=face_path.name))
    except Exception:
        sketch_path.unlink(missing_ok=True)
        face_path.unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------- accounts

def _check_origin(request: Request) -> None:
    """Cross-site form posts carry a foreign Origin: refuse them (login CSRF)."""
    origin = request.headers.get("origin")
    if origin and origin.rstrip("/") != str(request.base_url).rstrip("/"):
        raise HTTPException(403, "cross-site request refused")


def _start_session(request: Request, response: Response, user_id: int) -> str:
    token, csrf = new_token(), new_token()
    days = request.app.state.settings.session_days
    with request.app.state.db() as db, db.begin():
        db.add(LoginSession(token_hash=token_digest(token), user_id=user_id, csrf_token=csrf,
                            expires=utcnow() + dt.timedelta(days=days)))
    response.set_cookie(SESSION_COOKIE, token, max_age=days * 86400, httponly=True, samesite="lax",
                        secure=request.app.state.settings.secure_cookies, path="/")
    return csrf


@router.post("/api/signup", status_code=201)
def signup(credentials: Credentials, request: Request, response: Response) -> dict:
    _check_origin(request)
    if not USERNAME_PATTERN.match(credentials.username):
        raise HTTPException(422, "user name: 3-32 letters, digits, '.', '_' or '-'")
    if len(credentials.password) < 8:
        raise HTTPException(422, "password: at least 8 characters")
    with request.app.state.db() as db, db.begin():
        if db.scalar(select(User).where(User.username == credentials.username)) is not None:
            raise HTTPException(409, "that user name is taken")
        user = User(username=credentials.username, password_hash=hash_password(credentials.password))
        db.add(user)
        db.flush()
        user_id = user.id
    csrf = _start_session(request, response, user_id)
    return {"username": credentials.username, "csrf_token": csrf}


@router.post("/api/login")
def login(credentials: Credentials, request: Request, response: Response) -> dict:
    _check_origin(request)
    limiter = request.app.state.login_limiter
    client = request.client.host if request.client else "unknown"
    for key in (f"ip:{client}", f"user:{credentials.username.lower()}"):
        if not limiter.allow(key):
            raise HTTPException(429, "too many login attempts; try again later",
                                headers={"Retry-After": str(limiter.retry_after(key))})
    with request.app.state.db() as db:
        user = db.scalar(select(User).where(User.username == credentials.username))
        valid = user is not None and verify_password(user.password_hash, credentials.password)
        if not valid:
            raise HTTPException(401, "wrong user name or password")
        user_id = user.id
    csrf = _start_session(request, response, user_id)
    return {"username": credentials.username, "csrf_token": csrf}


def _require_session(request: Request) -> LoginSession:
    session = _current_session(request)
    if session is None:
        raise HTTPException(401, "log in first")
    return session


@router.post("/api/logout")
def logout(request: Request, response: Response) -> dict:
    session = _require_session(request)
    _require_csrf(request, session)
    with request.app.state.db() as db, db.begin():
        stored = db.get(LoginSession, session.token_hash)
        if stored is not None:
            db.delete(stored)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return {"logged_out": True}


@router.get("/api/me")
def me(request: Request) -> dict:
    session = _current_session(request)
    if session is None:
        return {"username": None}
    with request.app.state.db() as db:
        user = db.get(User, session.user_id)
        return {"username": user.username if user else None, "csrf_token": session.csrf_token}


@router.delete("/api/account")
def delete_account(body: AccountDeletion, request: Request, response: Response) -> dict:
    session = _require_session(request)
    _require_csrf(request, session)
    folder = request.app.state.data_dir / "history" / str(session.user_id)
    with request.app.state.db() as db, db.begin():
        user = db.get(User, session.user_id)
        if user is None or not verify_password(user.password_hash, body.password):
            raise HTTPException(401, "wrong password")
        files = [folder / name for item in user.history for name in (item.sketch_file, item.face_file)]
        db.delete(user)
    for path in files:  # after the commit: a failed delete never leaves rows pointing at missing files
        path.unlink(missing_ok=True)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return {"deleted": True}


# ---------------------------------------------------------------- history

@router.get("/api/history")
def history(request: Request) -> dict:
    session = _require_session(request)
    with request.app.state.db() as db:
        items = db.scalars(select(HistoryItem).where(HistoryItem.user_id == session.user_id)
                           .order_by(HistoryItem.created.desc())).all()
        return {"items": [{"id": i.id, "created": i.created.isoformat() + "Z", "model": i.model,
                           "sketch_url": f"/api/history/{i.id}/sketch", "face_url": f"/api/history/{i.id}/face"}
                          for i in items]}


def _own_item(request: Request, item_id: int) -> HistoryItem:
    session = _require_session(request)
    with request.app.state.db() as db:
        item = db.get(HistoryItem, item_id)
        if item is None or item.user_id != session.user_id:  # others' items look absent, not forbidden
            raise HTTPException(404, "no such history item")
        db.expunge(item)
        return item


@router.get("/api/history/{item_id}/{kind}", response_class=FileResponse)
def history_image(item_id: HistoryId, kind: str, request: Request) -> FileResponse:
    if kind not in ("sketch", "face"):
        raise HTTPException(404, "kind must be sketch or face")
    item = _own_item(request, item_id)
    path = Path(request.app.state.data_dir) / "history" / str(item.user_id) / (
        item.sketch_file if kind == "sketch" else item.face_file)
    if not path.is_file():
        raise HTTPException(404, "image file missing")
    return FileResponse(path)


@router.delete("/api/history/{item_id}")
def delete_history_item(item_id: HistoryId, request: Request) -> dict:
    session = _require_session(request)
    _require_csrf(request, session)
    item = _own_item(request, item_id)
    with request.app.state.db() as db, db.begin():
        stored = db.get(HistoryItem, item.id)
        if stored is not None:
            db.delete(stored)
    folder = Path(request.app.state.data_dir) / "history" / str(item.user_id)
    (folder / item.sketch_file).unlink(missing_ok=True)
    (folder / item.face_file).unlink(missing_ok=True)
    return {"deleted": item_id}


#: The longest side of a cleaned upload sent back to the page: the canvas is smaller, so more is only bytes.
CLEANED_MAX_SIDE = 1024
CLEAN_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {"schema": {"type": "object", "required": ["image"], "properties": {
                "image": {"type": "string", "format": "binary", "description": "a drawing to put on the canvas"}}}},
            "image/png": {"schema": {"type": "string", "format": "binary"}},
            "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
        },
    },
    "responses": {"200": {"content": {"image/png": {}}, "description": "the drawing as the models read it"}},
}


@router.post("/api/clean", openapi_extra=CLEAN_BODY, response_class=Response,
             summary="An uploaded drawing as the models read it: greyscale, paper whitened, ruled lines erased")
async def clean(request: Request) -> Response:
    """The page puts an upload on the canvas through this, so that the in-browser preview and the strokes
    drawn over it start from what the server would read (a photo of a drawing on grey or ruled paper is
    whitened and loses its rules). ``X-Photographed: true`` says the paper was whitened; the page sends
    it back with ``photographed`` so the drawing is still judged as a photographed one."""
    _limit_rate(request)
    data, _ = await _read_image_upload(request)

    def run() -> tuple[bytes, bool]:
        from ..pipeline import clean_drawing

        grey, photographed = clean_drawing(load_image(data, max_pixels=request.app.state.settings.max_pixels))
        image = Image.fromarray(grey)
        image.thumbnail((CLEANED_MAX_SIDE, CLEANED_MAX_SIDE), Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
        return buffer.getvalue(), photographed

    try:
        encoded, photographed = await run_in_threadpool(run)
    except InputImageError as error:
        raise _unreadable(error) from None
    return Response(encoded, media_type="image/png",
                    headers={"X-Photographed": "true" if photographed else "false"})
