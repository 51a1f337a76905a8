"""The model that ships with the package loads offline and turns an example sketch into a face."""
from pathlib import Path

import numpy as np

from sketch2face import SketchToFacePipeline
from sketch2face.io import BUNDLED_DIR, DEFAULT_MODEL, bundled_models

EXAMPLES = Path(__file__).parents[1] / "examples"


def test_default_model_is_bundled_small_and_fp16():
    """The default, or each model it routes to, ships fp16 weights under 40 MB."""
    from sketch2face.pipeline import release_routes

    assert DEFAULT_MODEL in bundled_models()
    routes = release_routes(DEFAULT_MODEL)
    names = sorted(set(routes.values())) if routes else [DEFAULT_MODEL]
    from safetensors import safe_open

    for name in names:
        assert name in bundled_models()
        weights = BUNDLED_DIR / name / "model.safetensors"
        assert weights.stat().st_size < 40 * 1024 * 1024
        with safe_open(str(weights), "pt") as f:
            dtypes = {str(f.get_tensor(k).dtype) for k in f.keys() if f.get_tensor(k).is_floating_point()}
        assert dtypes == {"torch.float16"}


def test_default_model_turns_an_example_sketch_into_a_face():
    pipe = SketchToFacePipeline()
    example = sorted(EXAMPLES.glob("*.jpg"))[0]
    face = np.asarray(pipe(example), dtype=np.float32)
    assert face.shape == (256, 256, 3)
    # a face, not a flat or grey image: colour varies and channels differ (skin is not grey)
    assert face.std() > 20
    assert np.abs(face[..., 0] - face[..., 2]).mean() > 5
