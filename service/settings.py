"""Configuration: environment variables prefixed ``SUMMARIZER_`` (CLI flags override them)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_MODEL = "default"
# Candidates per field the 'openai' backend's server chooses among (see the setting).
OPENAI_CANDIDATES = {"who": 1, "what": 1, "when": 2, "where": 1}


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "news-summarizer"


class Settings(BaseSettings):
    """Every knob of the service, with the default a first-time user should get."""

    model_config = SettingsConfigDict(env_prefix="SUMMARIZER_", extra="ignore")

    backend: Literal["local", "openai"] = Field(
        "local",
        description=(
            "'local' runs the model in this process with transformers; 'openai' sends each article to an "
            "OpenAI-compatible inference server (vLLM, llama.cpp) at openai_base_url."
        ),
    )
    model: str = Field(
        DEFAULT_MODEL,
        description=(
            "Model to run: 'default' (= 'smollm2-135m', the embedded SmolLM2-135M-Instruct GGUF), "
            "'gemma3-270m' (embedded Gemma 3 270M base, optional extra), a local folder, a .gguf file, "
            "or a Hugging Face hub id already in the local cache."
        ),
    )
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="'auto' uses CUDA when present.")
    dtype: Literal["auto", "float32", "bfloat16"] = Field(
        "auto",
        description=(
            "Weights' precision. 'auto' takes bfloat16 on CUDA and on CPUs with native bfloat16 "
            "matrix units (AMX or AVX512-BF16), else float32 (bfloat16 emulated in software is slower)."
        ),
    )
    threads: int = Field(0, ge=0, description="CPU threads for torch; 0 keeps torch's default.")
    cache_dir: Path = Field(
        default_factory=_default_cache_dir,
        description="Where converted GGUF weights are cached so later starts are fast.",
    )
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    max_text_chars: int = Field(200_000, ge=1, description="Longest accepted article text (413 beyond).")
    window_tokens: int = Field(
        320, ge=32, description="Article tokens the model reads, lead first; the rest is truncated."
    )
    max_candidates: int = Field(
        32, ge=1, description="Most candidates per field that the model scores, in reading order (bounds the work on long windows)."
    )
    min_confidence: float | None = Field(
        None, ge=0, le=1,
        description=(
            "Answers less confident than this are left out, and a field left empty says so in warnings"
            " (a request's min_confidence overrides it). Unset: the value fit-ranker chose by cross-validation"
            " (ranker.json's min_confidence); 0 keeps every answer."
        ),
    )
    max_items: int = Field(3, ge=1, le=10, description="Most items in the who and where lists (backend 'openai'; the local ranker's limits are fitted).")
    max_batch: int = Field(
        8, ge=1, description="Most requests the local model reads together in one batch (1 turns batching off)."
    )
    batch_wait_ms: float = Field(
        10.0, ge=0, description="How long a batch waits, once the model is free, for requests arriving together."
    )
    max_queue: int = Field(
        128, ge=1,
        description=(
            "Most requests that may wait for or use the model (a memory bound); within it, a request is admitted "
            "when its expected wait fits its deadline, else 503."
        ),
    )
    max_batch_items: int = Field(256, ge=1, description="Most articles in one POST /v1/summaries:batch request (413 beyond).")
    max_batch_bytes: int = Field(
        16 * 1024 * 1024, ge=1024, description="Largest body of one POST /v1/summaries:batch request, in bytes (413 beyond)."
    )
    request_timeout_s: float = Field(60.0, gt=0, description="Deadline of one summary request; past it, 504.")
    api_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated API keys; when set, /v1 routes need 'Authorization: Bearer KEY' or 'X-API-Key: KEY'.",
    )
    rate_limit_per_minute: int = Field(0, ge=0, description="Requests per minute per API key (or client address); 0 turns it off.")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Comma-separated origins allowed by CORS; empty turns CORS off."
    )
    openai_base_url: str | None = Field(
        None, description="Base URL of the OpenAI-compatible server, e.g. http://vllm:8000/v1 (backend 'openai')."
    )
    openai_model: str | None = Field(None, description="Model name the inference server serves (backend 'openai').")
    openai_api_key: SecretStr | None = Field(None, description="Bearer key for the inference server, if it needs one.")
    openai_response_format: Literal["auto", "json_schema", "json_object"] = Field(
        "auto",
        description=(
            "How the answer schema is sent: 'auto' tries 'json_schema' (vLLM, SGLang, llama.cpp's llama-server) and, "
            "if the server rejects it, uses 'json_object' with the schema (llama-cpp-python's server) from then on; "
            "'json_schema' or 'json_object' send only that."
        ),
    )
    # Measured against llama-cpp-python on the embedded model (README, "Scale-out"): with two
    # candidates its choice beat the ranker's first for 'when' and lost for who, what and where.
    openai_candidates: dict[Literal["who", "what", "when", "where"], Annotated[int, Field(ge=1)]] = Field(
        default_factory=lambda: dict(OPENAI_CANDIDATES),
        description=(
            "Candidates per field the inference server chooses among, the ranker's most probable from their features "
            "(backend 'openai'): one number for every field, or JSON such as {\"when\": 2} (fields not named keep "
            "their default). With 1 the ranker alone chooses that field."
        ),
    )
    openai_timeout_s: float = Field(30.0, gt=0, description="Timeout of one call to the inference server.")
    openai_max_retries: int = Field(
        3, ge=0, description="Retries, with exponential backoff, after 429, 5xx or a connection error from the server."
    )
    openai_concurrency: int = Field(8, ge=1, description="Calls in flight to the inference server from this replica.")
    openai_max_chars: int = Field(
        1400, ge=100,
        description=(
            "Article characters read, lead first: candidates come from them and they are sent to the inference server. "
            "1400 is about what the local backend reads (window_tokens=320: a median 1335-1365 characters of the long "
            "articles of the dev and sample files), so both backends choose among the same candidates."
        ),
    )
    openai_max_tokens: int = Field(600, ge=16, description="Most tokens the inference server may generate per answer.")
    log_articles: bool = Field(False, description="Log article text (debugging only; off keeps articles out of logs).")

    @field_validator("openai_candidates", mode="before")
    @classmethod
    def _candidates_per_field(cls, value: object) -> object:
        if isinstance(value, (int, str)) and str(value).strip().isdigit():
            return dict.fromkeys(OPENAI_CANDIDATES, int(value))
        if isinstance(value, dict):
            return OPENAI_CANDIDATES | value
        return value

    @field_validator("api_keys", "cors_origins", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit (e.g. CLI) values taking precedence."""
    return Settings(**{key: value for key, value in overrides.items() if value is not None})
