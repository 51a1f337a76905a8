"""The web page in a real browser: Debian's headless Chromium driven by Playwright.

Skipped when /usr/bin/chromium is missing, unless SKETCH2FACE_REQUIRE_BROWSER=1 (set by .ci/run, which
installs chromium), in which case a missing browser fails the run.
"""
from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CHROMIUM = Path(os.environ.get("SKETCH2FACE_CHROMIUM", "/usr/bin/chromium"))
if not CHROMIUM.exists():
    if os.environ.get("SKETCH2FACE_REQUIRE_BROWSER") == "1":
        raise RuntimeError(f"{CHROMIUM} is missing: apt-get install chromium (required by SKETCH2FACE_REQUIRE_BROWSER)")
    pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)", allow_module_level=True)
playwright_api = pytest.importorskip("playwright.sync_api")
from sketch2face.serve.routes import ORT_WEB_DIR  # noqa: E402

if not (ORT_WEB_DIR / "ort.wasm.min.js").is_file():
    # the live preview needs ONNX Runtime Web beside the page; `make install` puts it there
    raise RuntimeError(f"{ORT_WEB_DIR} is empty: run `make install` (npm installs onnxruntime-web)")
uvicorn = pytest.importorskip("uvicorn")

from sketch2face.serve.app import ServeSettings, create_app  # noqa: E402

# Chromium flags for a container without a display, GPU or network
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--no-first-run",
                 "--disable-default-apps", "--disable-sync", "--metrics-recording-only"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server_url(tmp_path_factory):
    """The real app (uvicorn, tiny model) on a free loopback port, for the whole module."""
    import torch

    from sketch2face import create_model, save_pretrained

    folder = tmp_path_factory.mktemp("browser")
    model_dir = save_pretrained(create_model("unet-tiny").eval(), folder / "tiny", dtype=torch.float32,
                                metadata={"training": {"image_size": 32}})
    app = create_app(ServeSettings(model=str(model_dir), data_dir=str(folder / "serve")))
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser, server_url):
    context = browser.new_context(accept_downloads=True, viewport={"width": 1300, "height": 900})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(server_url)
    page.wait_for_function("document.getElementById('model').options.length > 0")
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def draw_face(page) -> None:
    """An oval, two eyes and a mouth with the mouse, in canvas coordinates scaled to its on-screen box."""
    box = page.locator("#sketch").bounding_box()

    def at(fx, fy):
        return box["x"] + fx * box["width"], box["y"] + fy * box["height"]

    strokes = [
        [(0.5 + 0.27 * __import__("math").cos(t / 20 * 6.283), 0.55 + 0.38 * __import__("math").sin(t / 20 * 6.283))
         for t in range(21)],
        [(0.36, 0.51), (0.44, 0.51)], [(0.56, 0.51), (0.64, 0.51)], [(0.40, 0.78), (0.60, 0.78)],
    ]
    for stroke in strokes:
        page.mouse.move(*at(*stroke[0]))
        page.mouse.down()
        for point in stroke[1:]:
            page.mouse.move(*at(*point), steps=4)
        page.mouse.up()


def wait_for_face(page) -> None:
    page.wait_for_function("document.getElementById('face').src.startsWith('blob:')", timeout=20_000)
    page.wait_for_function("document.getElementById('status').textContent.startsWith('Done')", timeout=20_000)


def wait_for_live_preview(page) -> None:
    page.wait_for_function("document.getElementById('face').src.startsWith('data:image/png')", timeout=60_000)
    assert page.locator("#status").text_content().startswith("Live preview in your browser")


def test_live_preview_runs_in_the_page_without_a_server_request(page):
    """Strokes change the preview while drawing, and nothing is sent to /api/generate."""
    sent = []
    page.on("request", lambda request: sent.append(request.url) if "/api/generate" in request.url else None)
    assert "stays on this page" in page.locator("#live-note").text_content()
    draw_face(page)
    wait_for_live_preview(page)
    first = page.evaluate("document.getElementById('face').src")
    runs = page.evaluate("window.sketch2faceLive.times.length")
    box = page.locator("#sketch").bounding_box()
    page.mouse.move(box["x"] + 0.3 * box["width"], box["y"] + 0.2 * box["height"])
    page.mouse.down()
    page.mouse.move(box["x"] + 0.7 * box["width"], box["y"] + 0.25 * box["height"], steps=6)
    page.mouse.up()
    page.wait_for_function(f"window.sketch2faceLive.times.length > {runs} && !window.sketch2faceLive.busy")
    assert page.evaluate("document.getElementById('face').src") != first  # the new stroke changed the face
    assert sent == []
    assert page.evaluate("self.crossOriginIsolated")  # so ONNX Runtime Web may use threads


def test_draw_see_face_download_and_undo(page, tmp_path):
    assert page.locator("#status").text_content().startswith("Draw a face")
    page.click("#generate")  # nothing drawn yet
    assert "empty" in page.locator("#status").text_content()

    draw_face(page)
    wait_for_live_preview(page)
    page.click("#generate")  # the server's model
    wait_for_face(page)
    natural = page.evaluate("document.getElementById('face').naturalWidth")
    assert natural > 0

    with page.expect_download() as download_info:
        page.click("#download-png")
    target = tmp_path / "face.png"
    download_info.value.save_as(target)
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with page.expect_download() as download_info:
        page.click("#download-jpeg")
    download_info.value.save_as(tmp_path / "face.jpg")
    assert (tmp_path / "face.jpg").read_bytes()[:3] == b"\xff\xd8\xff"

    # undo every stroke with the keyboard: the canvas is blank again; redo brings ink back
    for _ in range(4):
        page.keyboard.press("Control+z")
    assert page.evaluate("isBlank()")
    page.keyboard.press("Control+y")
    assert not page.evaluate("isBlank()")


def _signup(page, name: str, password: str = "correct horse battery") -> None:
    page.fill("#username", name)
    page.fill("#password", password)
    page.click("#signup")
    page.wait_for_function(f"document.getElementById('whoami').textContent.includes({name!r})")


def test_accounts_history_and_isolation(page, browser, server_url):
    _signup(page, "alice")
    draw_face(page)
    wait_for_live_preview(page)
    assert page.locator("#history li").count() == 0  # live previews stay in the page: no history
    page.click("#generate")
    wait_for_face(page)
    page.wait_for_function("document.querySelectorAll('#history li').length >= 1", timeout=20_000)
    alice_item = page.locator("#history li img").first.get_attribute("src")
    assert alice_item.startswith("/api/history/")

    page.click("#logout")
    page.wait_for_function("document.getElementById('history-panel').hidden")

    # a second person in a fresh browser context sees none of alice's history, even by URL
    other = browser.new_context()
    bob = other.new_page()
    bob.goto(server_url)
    bob.wait_for_function("document.getElementById('model').options.length > 0")
    _signup(bob, "bob")
    assert bob.locator("#history li").count() == 0
    assert bob.request.get(server_url + alice_item).status == 404
    other.close()

    # alice logs in again and still has her item
    page.fill("#username", "alice")
    page.fill("#password", "correct horse battery")
    page.click("#login")
    page.wait_for_function("document.querySelectorAll('#history li').length >= 1", timeout=20_000)


def _visible_in_viewport(page, selector: str) -> bool:
    box = page.locator(selector).bounding_box()
    size = page.viewport_size
    return box is not None and box["x"] >= 0 and box["y"] >= 0 and \
        box["x"] + box["width"] <= size["width"] + 1 and box["y"] + box["height"] <= size["height"] + 1


CONTROLS = ["#sketch", "#face", "#pen", "#eraser", "#brush", "#undo", "#redo", "#clear", "#guide", "#example",
            "#model", "#live", "#fidelity", "#compose", "#generate", "#download-png", "#download-jpeg", "#status"]


def test_laptop_viewport_shows_canvas_face_and_controls_side_by_side(browser, server_url):
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    page.goto(server_url)
    page.wait_for_function("document.getElementById('model').options.length > 0")
    hidden = [s for s in CONTROLS if not _visible_in_viewport(page, s)]
    assert not hidden, f"not visible without scrolling at 1366x768: {hidden}"
    canvas, face = page.locator("#sketch").bounding_box(), page.locator("#face").bounding_box()
    assert face["x"] > canvas["x"] + canvas["width"] and abs(face["y"] - canvas["y"]) < 120  # side by side
    context.close()


def test_phone_viewport_stacks_and_takes_touch(browser, server_url):
    context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True)
    page = context.new_page()
    page.goto(server_url)
    page.wait_for_function("document.getElementById('model').options.length > 0")
    canvas, face = page.locator("#sketch").bounding_box(), page.locator("#face").bounding_box()
    assert canvas["x"] + canvas["width"] <= 390 and face["x"] + face["width"] <= 390
    assert face["y"] >= canvas["y"] + canvas["height"]  # stacked
    page.touchscreen.tap(canvas["x"] + canvas["width"] / 2, canvas["y"] + canvas["height"] / 2)
    page.wait_for_function("!isBlank()")  # a touch leaves ink
    context.close()


def test_no_serious_accessibility_violations(page):
    """axe-core (npm, web/node_modules) in the page: no serious or critical violation."""
    from conftest import ROOT

    axe = ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
    assert axe.is_file(), "run `make install` (npm installs axe-core)"
    page.add_script_tag(path=str(axe))
    violations = page.evaluate("async () => (await axe.run(document)).violations"
                               ".map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target)}))")
    serious = [v for v in violations if v["impact"] in ("serious", "critical")]
    assert not serious, serious


def test_every_control_is_reachable_with_the_keyboard(page):
    reached = set()
    for _ in range(40):
        page.keyboard.press("Tab")
        reached.add(page.evaluate("document.activeElement.id"))
    controls = {"pen", "eraser", "brush", "undo", "redo", "clear", "guide", "upload", "example", "model", "live",
                "fidelity", "compose", "watermark", "generate"}
    assert controls <= reached, controls - reached


def test_shadow_guide_shows_the_preview_behind_the_strokes(page):
    """With the Shadow box ticked, the live preview's face is drawn faintly on the overlay canvas."""
    # the box appears once the live preview has loaded, after the model list the fixture waits for
    # (checked at once, it failed once under a loaded CPU)
    page.wait_for_selector("#shadow-label", state="visible")
    page.check("#shadow")
    draw_face(page)
    wait_for_live_preview(page)
    page.wait_for_function("!window.sketch2faceLive.busy")
    tinted = """() => { const o = document.getElementById('overlay');
        const d = o.getContext('2d').getImageData(0, 0, o.width, o.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 40) n++; return n / (d.length / 4); }"""
    assert page.evaluate(tinted) > 0.5  # most of the overlay carries the face's shadow
    page.uncheck("#shadow")
    assert page.evaluate(tinted) < 0.05  # only the dashed guide lines are left


def test_an_example_drawing_to_start_from_fills_the_canvas_and_previews(page):
    """"Start from" puts an example line drawing on the canvas (undoable) and previews its face;
    "a blank canvas" clears it. Every example the menu offers is served."""
    inked = """() => { const c = document.getElementById('sketch');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i] < 128) n++; return n / (d.length / 4); }"""
    options = page.eval_on_selector_all("#example option", "os => os.map(o => o.value).filter(v => v)")
    assert len(options) >= 4
    for value in options:
        served = page.request.get(f"{page.url.rstrip('/')}/static/examples/drawing-{value}.png")
        assert served.ok and served.headers["content-type"] == "image/png"
    page.select_option("#example", options[1])
    page.wait_for_function(f"({inked})() > 0.005")
    assert page.evaluate(inked) < 0.2  # a line drawing, not a photo
    wait_for_live_preview(page)
    page.click("#undo")
    assert page.evaluate(inked) == 0  # the example replaced a blank canvas: undo brings it back
    page.select_option("#example", options[0])
    page.wait_for_function(f"({inked})() > 0.005")
    page.select_option("#example", "")
    assert page.evaluate(inked) == 0


def test_the_fidelity_slider_reaches_the_server_and_changes_the_face(page):
    """"Generate" sends the slider's value: the page's face at 0.30 is the server's answer to the same
    drawing with fidelity 0.30, and differs from its face at 1.00."""
    import base64
    import io

    import httpx
    import numpy as np
    from PIL import Image

    def face_pixels() -> np.ndarray:
        data = page.evaluate("fetch(document.getElementById('face').src).then(r => r.arrayBuffer())"
                             ".then(b => Array.from(new Uint8Array(b)))")
        return np.asarray(Image.open(io.BytesIO(bytes(data))).convert("RGB"), dtype=int)

    page.uncheck("#live")
    draw_face(page)
    page.click("#generate")
    wait_for_face(page)
    exact = face_pixels()
    page.fill("#fidelity", "30")  # what dragging the slider does: an input event, then change
    page.dispatch_event("#fidelity", "change")
    assert page.locator("#fidelity-value").text_content() == "0.30"
    page.evaluate("document.getElementById('status').textContent = ''")
    page.click("#generate")
    wait_for_face(page)
    loose = face_pixels()
    drawing = page.evaluate("document.getElementById('sketch').toDataURL('image/png')")
    reply = httpx.post(f"{page.url.rstrip('/')}/api/generate", timeout=60,
                       files={"image": ("sketch.png", base64.b64decode(drawing.split(",", 1)[1]), "image/png")},
                       data={"fidelity": "0.30", "model": page.input_value("#model")})
    assert reply.status_code == 200
    server = np.asarray(Image.open(io.BytesIO(reply.content)).convert("RGB"), dtype=int)
    assert np.abs(loose - server).max() == 0  # the page asked for fidelity 0.30
    assert (loose != exact).any()  # and that is another face than at 1.00 (the tiny test model: a small change)


def test_real_face_parts_and_another_face_reach_the_server(page):
    """"Real face parts" asks for a composed face and "Another face" for the next variation: the
    server's answers say what it did (X-Composed, X-Variation), and the status line says it too. While
    the drawing goes on, the page sends the last composite's person back (keep_base), so the face does
    not turn into someone else at every stroke; "Another face" lets go of them."""
    sent = []  # (keep_base the page sent, X-Base-Face the server answered) per request
    page.evaluate("""() => { window.keptBases = []; const plain = window.fetch;
        window.fetch = (url, options) => { if (String(url).endsWith('/api/generate'))
            window.keptBases.push(options.body.get('keep_base')); return plain(url, options); }; }""")

    def answer(click: str) -> tuple[str, str]:
        page.evaluate("document.getElementById('status').textContent = ''")
        with page.expect_response(lambda r: r.url.endswith("/api/generate")) as reply:
            page.click(click)
        wait_for_face(page)
        sent.append((page.evaluate("window.keptBases.at(-1)"), reply.value.headers["x-base-face"]))
        return reply.value.headers["x-composed"], reply.value.headers["x-variation"]

    page.uncheck("#live")
    assert page.locator("#another").is_hidden()
    draw_face(page)
    assert answer("#generate") == ("false", "0")
    page.check("#compose")
    assert page.locator("#another").is_visible()
    assert "previews go through the server" in page.locator("#live-note").text_content()
    assert answer("#generate") == ("true", "0")
    assert "real face parts" in page.locator("#status").text_content()
    assert answer("#generate") == ("true", "0")
    assert sent[-2][0] is None and sent[-2][1].isdigit()  # a first composite: no person to keep yet
    assert sent[-1] == (sent[-2][1], sent[-2][1])  # the same drawing goes on: its person is sent back, and kept
    assert answer("#another") == ("true", "1")
    assert sent[-1][0] is None  # another face: the page does not hold on to the last person
    assert answer("#another") == ("true", "2")
    page.uncheck("#compose")
    assert page.locator("#another").is_hidden()
    assert "stays on this page" in page.locator("#live-note").text_content()
    assert answer("#generate") == ("false", "0")
    assert sent[-1][1] == ""


def test_an_uploaded_photo_of_a_drawing_goes_on_the_canvas_on_white_paper(page, tmp_path):
    """The upload goes through /api/clean: the canvas gets the drawing on white paper (not the grey photo),
    the page sends ``photographed`` with its generations, and a file that is not an image gets the server's
    message."""
    import cv2

    from sketch2face.data.augment import photographed

    drawing = np.full((400, 400), 255, np.uint8)
    cv2.ellipse(drawing, (200, 210), (95, 130), 0, 0, 360, 20, 4)
    for x in (160, 240):
        cv2.ellipse(drawing, (x, 180), (18, 7), 0, 0, 360, 20, 3)
    photo_file = tmp_path / "photo.png"
    Image.fromarray(photographed(drawing, np.random.default_rng(0))).save(photo_file)
    mid_grey = """() => { const c = document.getElementById('sketch');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i] > 100 && d[i] < 225) n++; return n / (d.length / 4); }"""
    sent = []
    page.on("request", lambda r: sent.append(r.url) if r.method == "POST" else None)
    page.set_input_files("#upload", str(photo_file))
    wait_for_face(page)
    assert page.evaluate(mid_grey) < 0.05  # the raw photo's grey paper would cover most of the canvas
    assert any(url.endswith("/api/clean") for url in sent) and sent[-1].endswith("/api/generate")
    assert page.evaluate("state.photographed")  # what the page sends with every generation for this canvas
    not_an_image = tmp_path / "notes.png"
    not_an_image.write_bytes(b"this is not an image")
    page.set_input_files("#upload", str(not_an_image))
    page.wait_for_function("document.getElementById('status').classList.contains('error')", timeout=20_000)
    assert "not an image" in page.locator("#status").text_content()
