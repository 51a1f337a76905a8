"""Milliseconds per live preview in the page: the small model running in headless Chromium with ONNX
Runtime Web (WebAssembly), on a face drawn with the mouse, with no request to the server's model.

    python benchmarks/browser_preview.py [--runs 40] [--threads-note]

Starts the web app on a free port, draws a face with the mouse, waits for the first preview (model
download and compilation: printed as the cold start), then times --runs previews of the same drawing
(preparation, inference and drawing the face: LivePreview.run in serve/static/live.js) and prints
p50/p90/min in ms, the page's thread count, and how many requests reached /api/generate (should be 0).
Run it alone on the machine: other jobs on the cores slow it.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--no-first-run",
                 "--disable-sync"]


def draw_face(page, box) -> None:
    """An oval head, two eyes, a nose and a mouth, as mouse strokes on the 512-px canvas."""
    def stroke(points):
        page.mouse.move(box["x"] + points[0][0] * box["width"], box["y"] + points[0][1] * box["height"])
        page.mouse.down()
        for x, y in points[1:]:
            page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"])
        page.mouse.up()

    stroke([(0.5 + 0.27 * math.cos(t / 40 * 2 * math.pi), 0.55 + 0.38 * math.sin(t / 40 * 2 * math.pi))
            for t in range(41)])
    for cx in (0.4, 0.6):
        stroke([(cx + 0.05 * math.cos(t / 16 * 2 * math.pi), 0.5 + 0.02 * math.sin(t / 16 * 2 * math.pi))
                for t in range(17)])
    stroke([(0.5, 0.52), (0.48, 0.64), (0.53, 0.65)])
    stroke([(0.4 + 0.2 * t / 10, 0.76 + 0.03 * math.sin(t / 10 * math.pi)) for t in range(11)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    from web_load import start_server  # the app as `sketch2face serve` runs it, on a free port

    with tempfile.TemporaryDirectory() as tmp:
        process, url = start_server(None, Path(tmp))
        try:
            times, threads, isolated, server_generations, cold = measure(url, args.runs, sync_playwright)
        finally:
            process.terminate()
            process.wait(timeout=30)
    times = sorted(times)
    result = {"runs": len(times), "p50_ms": round(times[len(times) // 2], 1),
              "p90_ms": round(times[int(len(times) * 0.9)], 1), "min_ms": round(times[0], 1),
              "first_preview_s": round(cold, 2), "wasm_threads": threads, "cross_origin_isolated": isolated,
              "requests_to_api_generate": len(server_generations)}
    print(json.dumps(result))


def measure(url: str, runs: int, sync_playwright):
    """Draw in the page, wait for the first preview, then time ``runs`` previews of the drawing."""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        server_generations = []
        page.on("request", lambda r: server_generations.append(r.url) if "/api/generate" in r.url else None)
        page.goto(url)
        page.wait_for_function("window.sketch2faceLive !== undefined")
        started = time.perf_counter()
        draw_face(page, page.locator("#sketch").bounding_box())
        page.wait_for_function("window.sketch2faceLive.times.length > 0", timeout=120_000)
        cold = time.perf_counter() - started
        times = page.evaluate("""async (runs) => {
            const live = window.sketch2faceLive, canvas = document.getElementById('sketch');
            while (live.busy) await new Promise(r => setTimeout(r, 10));
            live.times.length = 0;
            for (let i = 0; i < runs; i++) await live.run(canvas);
            return live.times;
        }""", runs)
        threads = page.evaluate("window.ort.env.wasm.numThreads")
        isolated = page.evaluate("self.crossOriginIsolated")
        browser.close()
    return times, threads, isolated, server_generations, cold


if __name__ == "__main__":
    main()
