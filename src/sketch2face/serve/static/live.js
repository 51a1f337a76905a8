// Live preview in the page: the small model runs in this browser with ONNX Runtime Web (WebAssembly),
// so a drawing previewed live never leaves the page. The sketch is prepared as the server's
// pipeline prepares it (greyscale, a small or off-centre drawing framed around its ink, resized,
// scaled to [-1, 1]; sketch2face.pipeline.preprocess_sketch), the face drawn into a canvas.
"use strict";

// Framing constants of sketch2face.pipeline (locate_drawing); keep the two in step.
const FRAMED_INK_SPAN = 0.8, FRAMED_INK_CENTRE_Y = 0.53;
const FRAMED_ENOUGH_SPAN = 0.45, FRAMED_ENOUGH_OFFSET = 0.1;
const BLANK_CONTRAST = 12;

function luma(rgba) {
  // PIL's "L" conversion (ITU-R 601-2), as the server reads an uploaded canvas
  const grey = new Uint8ClampedArray(rgba.length / 4);
  for (let i = 0, j = 0; i < rgba.length; i += 4, j++) {
    grey[j] = (rgba[i] * 299 + rgba[i + 1] * 587 + rgba[i + 2] * 114) / 1000;
  }
  return grey;
}

function percentile(sorted, q) {  // numpy's default (linear) percentile of a sorted array
  const position = (sorted.length - 1) * q / 100, below = Math.floor(position);
  const above = Math.min(below + 1, sorted.length - 1);
  return sorted[below] + (sorted[above] - sorted[below]) * (position - below);
}

// The square (left, top, side) that brings a small or off-centre drawing to the models' framing,
// or null when it is framed well enough (pipeline.locate_drawing).
function locateDrawing(grey, width, height) {
  const histogram = new Uint32Array(256);
  for (const v of grey) histogram[v]++;
  let count = 0, paper = 0;
  while (count + histogram[paper] <= grey.length / 2) count += histogram[paper++];
  const xs = [], ys = [];
  for (let i = 0; i < grey.length; i++) {
    if (grey[i] < paper - 50) { xs.push(i % width); ys.push(Math.floor(i / width)); }
  }
  if (xs.length < 20) return null;
  xs.sort((a, b) => a - b); ys.sort((a, b) => a - b);
  const x0 = percentile(xs, 0.5), x1 = percentile(xs, 99.5) + 1;
  const y0 = percentile(ys, 0.5), y1 = percentile(ys, 99.5) + 1;
  const square = Math.max(width, height), span = Math.max(x1 - x0, y1 - y0);
  const cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
  const offset = Math.max(Math.abs(cx - width / 2), Math.abs(cy - height / 2));
  const small = span < FRAMED_ENOUGH_SPAN * square;
  const offCentre = offset > FRAMED_ENOUGH_OFFSET * square && span < FRAMED_INK_SPAN * square;
  if (!small && !offCentre) return null;
  const side = Math.max(16, Math.round(span / FRAMED_INK_SPAN));
  return { left: Math.round(cx - side / 2), top: Math.round(cy - FRAMED_INK_CENTRE_Y * side), side };
}

export class LivePreview {
  constructor(info) {
    this.info = info;              // GET /api/live: model, model_url, resolution, runtime_url
    this.session = null;
    this.loading = null;
    this.busy = false;
    this.again = false;
    this.times = [];               // ms per preview (inference and pre/post-processing), for benchmarks
    const size = info.resolution;
    this.input = Object.assign(document.createElement("canvas"), { width: size, height: size });
    this.output = Object.assign(document.createElement("canvas"), { width: size, height: size });
    this.region = null;
  }

  load() {
    if (!this.loading) {
      this.loading = (async () => {
        await new Promise((resolve, reject) => {
          const script = Object.assign(document.createElement("script"),
                                       { src: `${this.info.runtime_url}ort.wasm.min.js`, onload: resolve, onerror: reject });
          document.head.appendChild(script);
        });
        const ort = window.ort;
        ort.env.wasm.wasmPaths = this.info.runtime_url;
        // threads need cross-origin isolation, which the page's headers give
        ort.env.wasm.numThreads = self.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;
        this.session = await ort.InferenceSession.create(this.info.model_url, { executionProviders: ["wasm"] });
      })();
    }
    return this.loading;
  }

  // The sketch canvas as the model's input, or null for a blank canvas.
  prepare(canvas) {
    const size = this.info.resolution;
    const source = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
    const grey = luma(source.data);
    let lo = 255, hi = 0;
    for (const v of grey) { if (v < lo) lo = v; if (v > hi) hi = v; }
    if (hi - lo < BLANK_CONTRAST) return null;
    const region = locateDrawing(grey, canvas.width, canvas.height)
      || { left: 0, top: 0, side: Math.max(canvas.width, canvas.height) };  // the canvas is square
    this.region = region;  // where the face belongs on the canvas (for the shadow guide)
    const g = this.input.getContext("2d", { willReadFrequently: true });
    g.fillStyle = "#fff";
    g.fillRect(0, 0, size, size);
    g.imageSmoothingEnabled = true;
    g.imageSmoothingQuality = "high";
    const scale = size / region.side;
    g.drawImage(canvas, -region.left * scale, -region.top * scale, canvas.width * scale, canvas.height * scale);
    const pixels = luma(g.getImageData(0, 0, size, size).data);
    const values = new Float32Array(size * size);
    for (let i = 0; i < values.length; i++) values[i] = pixels[i] / 127.5 - 1;
    return new window.ort.Tensor("float32", values, [1, 1, size, size]);
  }

  // Run on the current drawing; overlapping calls collapse into one more run. Returns a data URL of
  // the face, or null (blank canvas, or a newer run will follow).
  async run(canvas) {
    if (this.busy) { this.again = true; return null; }
    this.busy = true;
    try {
      await this.load();
      let url = null;
      do {
        this.again = false;
        const started = performance.now();
        const input = this.prepare(canvas);
        if (input === null) return null;
        const result = await this.session.run({ [this.session.inputNames[0]]: input });
        url = this.draw(result[this.session.outputNames[0]]);
        this.times.push(performance.now() - started);
      } while (this.again);
      return url;
    } finally {
      this.busy = false;
    }
  }

  draw(tensor) {
    const size = this.info.resolution, plane = size * size, data = tensor.data;
    const g = this.output.getContext("2d");
    const image = g.createImageData(size, size);
    for (let i = 0; i < plane; i++) {
      for (let c = 0; c < 3; c++) {
        image.data[4 * i + c] = (data[c * plane + i] + 1) * 127.5;  // a clamped array rounds and clips
      }
      image.data[4 * i + 3] = 255;
    }
    g.putImageData(image, 0, 0);
    return this.output.toDataURL("image/png");
  }
}
