"""backend_plan: the one place that reads settings.backend, and what each backend asks of the server."""

from __future__ import annotations

import pytest

from service.backends import backend_plan
from service.errors import ModelNotFoundError
from service.settings import Settings


def test_the_local_model_runs_on_one_thread_in_batches():
    plan = backend_plan(Settings(max_batch=4, batch_wait_ms=20))
    assert (plan.threads, plan.max_batch, plan.batch_wait_s) == (1, 4, 0.02)


def test_the_openai_backend_keeps_calls_in_flight_one_article_each():
    settings = Settings(backend="openai", openai_base_url="http://vllm:8000/v1", openai_model="m", openai_concurrency=5)
    plan = backend_plan(settings)
    assert (plan.threads, plan.max_batch, plan.batch_wait_s) == (5, 1, 0.0)
    plan.check()  # nothing to find on this machine


def test_a_missing_local_model_is_found_out_before_anything_loads(tmp_path):
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        backend_plan(Settings(model=str(tmp_path / "missing.gguf"))).check()
