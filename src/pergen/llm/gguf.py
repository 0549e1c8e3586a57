"""GGUF files: chunks joined and checked once; converted once into a transformers folder.

transformers can read GGUF but de-quantizes every tensor on each load (about 20 s on 2
cores, most of it building the tokenizer), so the first load converts the file once into
a float32 transformers folder under ``$PERGEN_CACHE/models`` (default ``~/.cache/pergen``)
and later loads read that folder (well under a second for the weights).

The cache key holds the GGUF file's size and modification time: a reinstalled package
gets a fresh conversion. A conversion is written to a temporary folder and renamed into
place, so a crash or two processes converting at once never leave a half-written model.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from contextlib import redirect_stderr
from pathlib import Path
from typing import Any

from ..errors import ConfigError, MissingExtraError
from ..hf import quiet_progress
from ..run.storage import cache_dir

_MARKER = "config.json"  # any finished transformers folder has it


def fingerprint(parts: list[Path]) -> str:
    h = hashlib.sha256()
    for p in parts:
        if not p.is_file():
            raise ConfigError(f"model file {p} is missing: reinstall its package")
        st = p.stat()
        h.update(f"{p.name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()[:12]


def gguf_folder(path: str | Path) -> Path:
    """A transformers folder for any local ``.gguf`` file (cached like the embedded ones)."""
    path = Path(path).expanduser().resolve()
    return convert_gguf([path], f"{path.stem}-{fingerprint([path])}")


def assemble_gguf(parts: list[Path], key: str, size: int | None = None,
                  sha256: str | None = None) -> Path:
    """One GGUF file from ordered chunks, joined once into ``cache_dir()/models/key.gguf``.

    Chunked packages ship raw slices of one file; llama.cpp needs the whole file. The join
    is checked against the expected size and SHA-256 (when given) before it is renamed into
    place, so a missing or corrupt chunk is an error, never a model that loads garbage.
    """
    if len(parts) == 1 and size is None and sha256 is None:
        return parts[0]
    target = cache_dir() / "models" / f"{key}.gguf"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{key}.")
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            for p in parts:
                with open(p, "rb") as f:
                    while block := f.read(1 << 22):
                        digest.update(block)
                        out.write(block)
        _verify(tmp, key, size, sha256, digest.hexdigest())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _verify(path: Path, key: str, size: int | None, sha256: str | None, got: str) -> None:
    actual = path.stat().st_size
    if size is not None and actual != size:
        raise ConfigError(f"model {key}: its packages joined to {actual:,} bytes, expected "
                          f"{size:,}; reinstall them")
    if sha256 is not None and got != sha256:
        raise ConfigError(f"model {key}: checksum {got[:16]}... differs from the expected "
                          f"{sha256[:16]}...; reinstall its packages")


def convert_gguf(parts: list[Path], key: str) -> Path:
    """De-quantize a GGUF (given as one file or ordered chunks) into ``cache_dir()/models/key``."""
    target = cache_dir() / "models" / key
    if (target / _MARKER).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    gguf = assemble_gguf(parts, key)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{key}."))
    try:
        folder, file = gguf.parent, gguf.name
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
