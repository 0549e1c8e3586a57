"""LLM backends by name: local transformers models, OpenAI-compatible servers, baselines.

``get_model("smollm2")``, ``get_model("smollm2:llama.cpp")``, ``get_model("gguf:/x.gguf")``,
``get_model("hf:/path/to/folder")``,
``get_model("openai:llama3@http://localhost:11434/v1")``, ``get_model("knn")``.
Backends whose dependencies are missing stay listed and fail only when asked for,
with the extra to install; torch is imported only when a local model is asked for.
"""

from __future__ import annotations

from typing import Any

from .base import DEVICES, MODELS, Generator, LabelScorer, Request, Tokenizer, WhitespaceTokenizer

# Chosen by measurement on both shared dev sets (bench/RESULTS.md, "Engines and the
# default model"); runs on llama.cpp.
DEFAULT_MODEL = "qwen2.5-coder-1.5b"

# Local backends load torch or llama.cpp (seconds): each module registers its factories
# only when one of its models is first asked for. The no-LLM baselines register through
# the ``pergen.models`` entry point (pergen.baselines), as third-party backends do.
_HERE = __name__
MODELS.register_lazy("hf", f"{_HERE}.transformers_backend", "transformers", "local", local=True)
MODELS.register_lazy("smollm2", f"{_HERE}.embedded", "transformers", "local", local=True,
                     small="SmolLM2-135M-Instruct")
MODELS.register_lazy("gemma3-270m", f"{_HERE}.embedded", "transformers", "local", local=True,
                     small="Gemma 3 270M")
MODELS.register_lazy("qwen2.5-coder-0.5b", f"{_HERE}.embedded", "transformers", "local",
                     local=True, small="Qwen2.5-Coder-0.5B-Instruct")
MODELS.register_lazy("qwen2.5-coder-1.5b", f"{_HERE}.embedded", "llama_cpp", "llama", local=True,
                     small="Qwen2.5-Coder-1.5B-Instruct")
MODELS.register_lazy("gguf", f"{_HERE}.llama_backend", "llama_cpp", "llama", local=True)
MODELS.register_lazy("openai", f"{_HERE}.openai_backend", "httpx", "openai")


def get_model(spec: str = DEFAULT_MODEL, **options: Any) -> Generator:
    """A backend from ``name`` or ``name:argument``; options go to its factory."""
    return MODELS.create(spec, **options)


__all__ = ["DEFAULT_MODEL", "DEVICES", "MODELS", "Generator", "LabelScorer",
           "Request", "Tokenizer", "WhitespaceTokenizer", "get_model"]
