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
    app = create_app(ServeSettings(model=str(model_dir), data_dir=str(folder / "serve"), max_upload_bytes=100_000,
                                   generations_per_minute=100_000))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    schema.app_under_test = app
    return schema


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


def test_api_never_answers_5xx_to_a_signed_in_user(api_schema):
    """The same, with a logged-in user's session cookie and CSRF token on every request, so the
    history, account and generation paths run past the 401 an anonymous request meets. Logging out
    and deleting the account are left out (they would end the session for the cases after them)."""
    from fastapi.testclient import TestClient

    with TestClient(api_schema.app_under_test) as client:
        signed_up = client.post("/api/signup", json={"username": "fuzzer", "password": "long enough"})
        assert signed_up.status_code == 201, signed_up.text
        cookies = {"sketch2face_session": client.cookies.get("sketch2face_session")}
        headers = {"X-CSRF-Token": signed_up.json()["csrf_token"]}
    assert client.get("/api/me", cookies=cookies).status_code == 200
    operations = [op for op in _operations(api_schema)
                  if (op.method.upper(), op.path) not in {("POST", "/api/logout"), ("DELETE", "/api/account")}]
    signed_in = 0
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def fuzz(case):
            nonlocal signed_in
            response = case.call_and_validate(headers=headers, cookies=cookies, checks=[not_a_server_error])
            signed_in += response.status_code != 401

        fuzz()
    assert signed_in > 50  # most requests got past the login check
