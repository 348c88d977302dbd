"""The deployment files in deploy/ (which cannot run here) stay consistent with the service."""

from __future__ import annotations

from pathlib import Path

import yaml

from service.api.app import create_app
from service.backends import backend_plan
from service.settings import Settings

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def documents() -> list[dict]:
    found = []
    for path in sorted(DEPLOY.rglob("*.yaml")):
        found += [document for document in yaml.safe_load_all(path.read_text()) if document]
    return found


def api_environments() -> list[dict[str, str]]:
    """The SUMMARIZER_* environment of the API in the compose file and the k8s Deployment."""
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    environments = [compose["services"]["api"]["environment"]]
    for document in documents():
        if document.get("kind") == "Deployment" and document["metadata"]["name"] == "news-summarizer":
            container = document["spec"]["template"]["spec"]["containers"][0]
            environments.append({entry["name"]: entry["value"] for entry in container["env"]})
    return environments


def test_every_deploy_file_is_valid_yaml_with_kubernetes_kinds():
    kinds = {document.get("kind") for document in documents() if "apiVersion" in document}
    assert kinds == {"Deployment", "Service"}


def test_api_environment_is_a_valid_openai_backend_configuration():
    environments = api_environments()
    assert len(environments) == 2
    for environment in environments:
        fields = {name.removeprefix("SUMMARIZER_").lower(): value for name, value in environment.items()}
        assert set(fields) <= set(Settings.model_fields), "a variable the service does not read"
        settings = Settings(**fields)
        assert settings.backend == "openai" and settings.openai_base_url == "http://vllm:8000/v1"
        assert backend_plan(settings).threads == settings.openai_concurrency  # all the backend needs is there


def test_api_probes_use_the_services_health_routes():
    paths = {route.path for route in create_app(Settings()).routes}
    for document in documents():
        if document.get("kind") == "Deployment" and document["metadata"]["name"] == "news-summarizer":
            container = document["spec"]["template"]["spec"]["containers"][0]
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz" in paths
            assert container["livenessProbe"]["httpGet"]["path"] == "/healthz" in paths


def test_api_and_engine_agree_on_the_served_model_name():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    served = [arg.split("=", 1)[1] for arg in compose["services"]["vllm"]["command"] if arg.startswith("--served-model-name")]
    assert served == [compose["services"]["api"]["environment"]["SUMMARIZER_OPENAI_MODEL"]]
