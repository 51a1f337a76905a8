"""Fuzz the REST API from its own OpenAPI schema (schemathesis): whatever arrives, never a 5xx."""
from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402

from sketch2face.serve.app import ServeSettings, create_app  # noqa: E402


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory):
    import torch

    from sketch2face import create_model, save_pretrained

    folder = tmp_path_factory.mktemp("fuzz")
    model_dir = save_pretrained(create_model("unet-tiny").eval(), folder / "tiny", dtype=torch.float32,
                                metadata={"training": {"image_size": 32}})
    app = create_app(ServeSettings(model=str(model_dir), data_dir=str(folder / "serve"), max_upload_bytes=100_000))
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def _operations(schema):
    for result in schema.get_all_operations():
        yield result.ok()


def test_api_never_answers_5xx(api_schema):
    """Every operation, 25 generated requests each (schemathesis' strategies driven by hypothesis
    directly: its pytest plugin does not run under this pytest version)."""
    operations = list(_operations(api_schema))
    assert {op.path for op in operations} >= {"/api/generate", "/api/signup", "/api/login", "/api/history"}
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def fuzz(case):
            case.call_and_validate(checks=[not_a_server_error])

        fuzz()
