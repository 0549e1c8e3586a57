"""LLM backends by name: local transformers models, OpenAI-compatible servers, baselines.

``get_model("smollm2")``, ``get_model("smollm2:llama.cpp")``, ``get_model("gguf:/x.gguf")``,
``get_model("hf:/path/to/folder")``,
``get_model("openai:llama3@http://localhost:11434/v1")``, ``get_model("knn")``.
Backends whose dependencies are missing stay listed and fail only when asked for,
with the extra to install; torch is imported only when a local model is asked for.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from ..baselines import priors, simple, votes  # noqa: F401  (register the no-LLM baselines)
from ..errors import MissingExtraError
from .base import DEVICES, MODELS, Generator, LabelScorer, Request, Tokenizer, WhitespaceTokenizer

# Chosen by measurement on both shared dev sets (bench/RESULTS.md, "Engines and the
# default model"); runs on llama.cpp.
DEFAULT_MODEL = "qwen2.5-coder-1.5b"

# name -> (module that registers it, package it needs, extra that installs it). Importing
# torch takes seconds, so a module is imported only when one of its models is asked for.
_LAZY = {
    "hf": ("transformers_backend", "transformers", "local"),
    "smollm2": ("embedded", "transformers", "local"),
    "gemma3-270m": ("embedded", "transformers", "local"),
    "qwen2.5-coder-0.5b": ("embedded", "transformers", "local"),
    "qwen2.5-coder-1.5b": ("embedded", "llama_cpp", "llama"),
    "gguf": ("llama_backend", "llama_cpp", "llama"),
    "openai": ("openai_backend", "httpx", "openai"),
}

# Models with local weights, which take a ``device`` option.
LOCAL_MODELS = tuple(name for name, (_, _, extra) in _LAZY.items() if extra != "openai")


def _lazy(name: str, module: str, package: str, extra: str) -> Callable[..., Generator]:
    def factory(*args: str, **options: Any) -> Generator:
        try:
            importlib.import_module(f"{__name__}.{module}")  # replaces this stub in MODELS
        except MissingExtraError:
            raise
        except ImportError as e:
            raise MissingExtraError(package, extra) from e
        return MODELS.create(f"{name}:{args[0]}" if args else name, **options)
    return factory


for _name, _where in _LAZY.items():
    MODELS.register(_name)(_lazy(_name, *_where))


def get_model(spec: str = DEFAULT_MODEL, **options: Any) -> Generator:
    """A backend from ``name`` or ``name:argument``; options go to its factory."""
    return MODELS.create(spec, **options)


__all__ = ["DEFAULT_MODEL", "DEVICES", "LOCAL_MODELS", "MODELS", "Generator", "LabelScorer",
           "Request", "Tokenizer", "WhitespaceTokenizer", "get_model"]
