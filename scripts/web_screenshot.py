"""Screenshots of the web page with a result, for the README and docs/web.md: starts `sketch2face
serve` with the default model, draws a face with the mouse in headless Chromium (or uploads --upload
FILE), and saves the page at a laptop's 1366x768 after "Generate" with the default's "Real face parts"
(docs/images/web_app.png), at a
phone's 390x844 with the in-browser live preview of the same drawing (docs/images/web_phone.png), and
at the laptop size with the live preview's shadow behind the strokes (docs/images/web_shadow.png).

    python scripts/web_screenshot.py [--upload SKETCH] [--output docs/images/web_app.png]
"""
from __future__ import annotations

import argparse
import math
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from web_load import start_server  # noqa: E402

CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--no-first-run"]


def ellipse(cx, cy, rx, ry, start=0.0, end=1.0, n=40):
    return [(cx + rx * math.cos(2 * math.pi * (start + (end - start) * t / n)),
             cy + ry * math.sin(2 * math.pi * (start + (end - start) * t / n))) for t in range(n + 1)]


# A face in canvas fractions, on the guide's geometry (eyes at 51%, nose base 66%, mouth 78%)
STROKES = [
    ellipse(0.5, 0.55, 0.25, 0.36, 0.0, 0.5),                       # jaw and chin (lower half)
    ellipse(0.5, 0.52, 0.26, 0.36, 0.5, 1.0),                       # forehead
    ellipse(0.5, 0.40, 0.30, 0.26, 0.52, 0.98),                     # hair line
    [(0.22, 0.45), (0.20, 0.33), (0.28, 0.20), (0.42, 0.14), (0.58, 0.14), (0.72, 0.20), (0.80, 0.33), (0.78, 0.45)],
    [(0.33, 0.46), (0.38, 0.445), (0.45, 0.46)], [(0.55, 0.46), (0.62, 0.445), (0.67, 0.46)],   # brows
    ellipse(0.395, 0.51, 0.045, 0.018), ellipse(0.605, 0.51, 0.045, 0.018),                     # eyes
    ellipse(0.395, 0.51, 0.012, 0.012, n=12), ellipse(0.605, 0.51, 0.012, 0.012, n=12),          # pupils
    [(0.49, 0.53), (0.475, 0.62), (0.46, 0.655), (0.50, 0.67), (0.54, 0.655)],                   # nose
    [(0.42, 0.775), (0.46, 0.765), (0.50, 0.77), (0.54, 0.765), (0.58, 0.775)],                  # lips
    [(0.43, 0.78), (0.50, 0.80), (0.57, 0.78)],
    [(0.245, 0.50), (0.225, 0.55), (0.25, 0.60)], [(0.755, 0.50), (0.775, 0.55), (0.75, 0.60)],  # ears
]


def draw(page, url: str, upload: Path | None, live: bool, keep_page: bool = False) -> None:
    """Open the page (unless keep_page) and draw STROKES with the mouse (or upload a sketch); live: the
    in-page preview on."""
    if not keep_page:
        page.goto(url)
    page.wait_for_function("document.getElementById('model').options.length > 0")
    page.set_checked("#live", live)
    if live:  # the in-page preview runs the line model; composing needs the server's bank of parts
        page.set_checked("#compose", False)
    if upload:
        page.set_input_files("#upload", str(upload))
        return
    page.fill("#brush", "4")
    box = page.locator("#sketch").bounding_box()
    for stroke in STROKES:
        xs = [(box["x"] + fx * box["width"], box["y"] + fy * box["height"]) for fx, fy in stroke]
        page.mouse.move(*xs[0])
        page.mouse.down()
        for point in xs[1:]:
            page.mouse.move(*point, steps=3)
        page.mouse.up()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--upload", type=Path, help="upload this sketch instead of drawing")
    parser.add_argument("--model", default=None)
    parser.add_argument("--output", type=Path, default=Path("docs/images/web_app.png"))
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        process, url = start_server(args.model, Path(tmp))
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
                args.output.parent.mkdir(parents=True, exist_ok=True)
                page = browser.new_page(viewport={"width": 1366, "height": 768})
                draw(page, url, args.upload, live=False)
                page.click("#generate")
                page.wait_for_function("document.getElementById('status').textContent.startsWith('Done')",
                                       timeout=60_000)
                page.screenshot(path=str(args.output), full_page=False)
                phone = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
                draw(phone, url, args.upload, live=True)
                phone.wait_for_function("document.getElementById('status').textContent.startsWith('Live preview')",
                                        timeout=60_000)
                phone.screenshot(path=str(args.output.with_name("web_phone.png")), full_page=True)
                shadow = browser.new_page(viewport={"width": 1366, "height": 768})
                shadow.goto(url)
                shadow.wait_for_function("window.sketch2faceLive !== undefined")
                shadow.check("#shadow")
                draw(shadow, url, args.upload, live=True, keep_page=True)
                shadow.wait_for_function("document.getElementById('status').textContent.startsWith('Live preview')"
                                         " && !window.sketch2faceLive.busy", timeout=60_000)
                shadow.screenshot(path=str(args.output.with_name("web_shadow.png")))
                browser.close()
        finally:
            process.terminate()
            process.wait(timeout=30)
    print(f"wrote {args.output}, {args.output.with_name('web_phone.png')} and {args.output.with_name('web_shadow.png')}")


if __name__ == "__main__":
    main()
