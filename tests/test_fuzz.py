"""Schemathesis fuzzes the live app from its own OpenAPI spec: no 5xx, and every response
matches what the spec documents (status, media type, schema)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from service.api.app import create_app
from service.settings import Settings

app = create_app(Settings())
schema = schemathesis.openapi.from_asgi("/docs/openapi.json", app)


@pytest.fixture(autouse=True, scope="module")
def ready_model(summarizer):
    """The app serves the real model, loaded once for the whole test session."""
    app.state.runtime.summarizer = summarizer


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_conforms_to_its_documentation(case):
    case.call_and_validate()
