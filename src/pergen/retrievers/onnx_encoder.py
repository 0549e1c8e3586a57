"""`Encoder`'s models on ONNX Runtime: the same tokenizer, mean pooling and dot product.

Why: dense retrieval spends its time in the encoder's forward passes (7.9 of pergen's
8.7 s outside the LLM in bench/bench_overhead.py), and on 2 CPU cores ONNX Runtime runs
all-MiniLM-L6-v2 2-4x faster than PyTorch (bench/bench_dense.py). The model is exported
once per folder with torch.onnx (plain attention, not SDPA, so that ONNX Runtime's
transformer optimizer fuses each layer's attention, LayerNorm, GELU and bias nodes);
``onnx-int8`` also quantizes the weights to int8 (dynamic quantization: activations are
quantized per batch at run time). The files are kept under
``<pergen cache>/onnx/<digest of the folder's weights>/``: only the first load of a model
pays for the export (seconds); later loads read the files back.

``onnx`` gives PyTorch's embeddings within float rounding; ``onnx-int8`` changes them
slightly (bench/bench_dense.py reports the top-4 overlap with PyTorch's rankings). Texts
are tokenized all at once and batched by token count, so batches carry little padding.
Inference only: training (ROPG, RSPG) keeps the PyTorch `Encoder`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MissingExtraError
from ..run.storage import cache_dir
from .encoder import (
    _WEIGHTS,
    MAX_LENGTH,
    Encoder,
    _max_length,
    _transformer_folder,
    default_model_path,
    model_folders,
    valid_utf8,
)

_FORMAT = "2"  # change it whenever the exported files would change
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def _digest(root: Path) -> str:
    """Names the cached files: the folder, its weights' and config's size and time, and
    the versions that shape the export."""
    path = _transformer_folder(root)
    stats = [(p.name, p.stat().st_size, p.stat().st_mtime_ns)
             for p in sorted(path.iterdir()) if p.name in (*_WEIGHTS, "config.json")]
    key = json.dumps([_FORMAT, str(root.resolve()), stats,
                      *map(_version, ("torch", "onnxruntime", "onnx"))])
    return hashlib.sha256(key.encode()).hexdigest()[:24]


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return ""


def _write(target: Path, make: Callable[[Path], None]) -> None:
    """Run `make(tmp)` and move tmp to `target`: readers see a whole file or none."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".onnx")
    os.close(fd)
    try:
        make(Path(tmp))
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the cache from other users
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _export(encoder: Encoder, target: Path) -> None:
    """Export the last hidden states of `encoder.model` for the inputs its tokenizer makes."""
    import torch

    names = [k for k in _INPUTS if k in encoder.tokenizer(["a b"])]

    class Hidden(torch.nn.Module):
        def __init__(self, model: Any) -> None:
            super().__init__()
            self.model = model

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            return self.model(**dict(zip(names, inputs))).last_hidden_state

    # The plain attention graph, not torch's fused SDPA: ONNX Runtime's optimizer
    # recognizes it and fuses each layer's attention into one Attention node.
    with contextlib.suppress(AttributeError, ValueError):
        encoder.model.set_attn_implementation("eager")
    sample = encoder.tokenizer(["a short text", "another, longer text to pad the batch"],
                               padding=True, return_tensors="pt")
    axes = {k: {0: "batch", 1: "tokens"} for k in (*names, "hidden")}
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")
        torch.onnx.export(Hidden(encoder.model).eval(), tuple(sample[k] for k in names),
                          str(target), input_names=names, output_names=["hidden"],
                          dynamic_axes=axes, opset_version=17, dynamo=False)


def onnx_files(folder: str | Path | None = None, *, quantize: bool = True) -> Path:
    """The cached ONNX file for a model folder (default all-MiniLM-L6-v2), exported first
    when missing: ``model.onnx`` (optimized, float32) or ``model-int8.onnx``."""
    root = Path(folder).expanduser() if folder else default_model_path()
    out = cache_dir() / "onnx" / _digest(root)
    final = out / ("model-int8.onnx" if quantize else "model.onnx")
    if final.exists():
        return final
    out.mkdir(parents=True, exist_ok=True)
    plain, optimized = out / "export.onnx", out / "model.onnx"
    if not optimized.exists():
        encoder = Encoder.load(root, device="cpu")
        _write(plain, lambda tmp: _export(encoder, tmp))
        config = encoder.model.config
        _write(optimized, lambda tmp: _optimize(plain, tmp, config.num_attention_heads,
                                                 config.hidden_size))
        plain.unlink()
    if quantize:
        _write(final, lambda tmp: _quantize(optimized, tmp))
    return final


def _optimize(source: Path, target: Path, heads: int, hidden: int) -> None:
    """ONNX Runtime's BERT fusions (embeddings, attention, LayerNorm, GELU, biases); the
    plain export where the optimizer does not know the architecture."""
    from onnxruntime.transformers.optimizer import optimize_model

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            optimize_model(str(source), model_type="bert", num_heads=heads,
                           hidden_size=hidden).save_model_to_file(str(target))
    except Exception:  # noqa: BLE001 - any failure: the unfused graph computes the same
        target.write_bytes(source.read_bytes())


def _quantize(source: Path, target: Path) -> None:
    """Dynamic int8 quantization of the weights (activations quantized per batch)."""
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # Per output channel: one scale per column of each weight matrix keeps MiniLM's
    # embeddings at cosine >= .98 of float32's on HuffPost texts (one scale per matrix:
    # .93, at the same speed). Fused nodes have no inferred output type: say it is float.
    quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, per_channel=True,
                     extra_options={"DefaultTensorType": TensorProto.FLOAT})


class OnnxEncoder:
    """Texts -> float32 vectors with ONNX Runtime; `Encoder.encode`'s contract, no training."""

    device = "cpu"

    def __init__(self, session: Any, tokenizer: Any, max_length: int, dim: int,
                 name: str) -> None:
        self.session, self.tokenizer = session, tokenizer
        self.max_length, self._dim, self.name = max_length, dim, name
        self.inputs = [i.name for i in session.get_inputs()]
        self.calls = 0  # encode() calls that ran the model
        self.texts_encoded = 0  # texts those calls encoded

    @classmethod
    def load(cls, folder: str | Path | None = None, *, quantize: bool = True,
             max_length: int | None = None, threads: int | None = None) -> OnnxEncoder:
        """Export (first time) and load a model folder; `threads`: ONNX Runtime's
        intra-op threads (default: one per core)."""
        try:
            import onnxruntime as ort
            from transformers import AutoConfig, AutoTokenizer
        except ImportError as e:
            raise MissingExtraError("onnxruntime/transformers", "local") from e
        root, path = model_folders(folder)
        model_file = onnx_files(root, quantize=quantize)
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Idle threads sleep instead of spinning: on 2 cores shared with other jobs,
        # spinning threads take the cores the working ones need (1.3x slower measured).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = ort.InferenceSession(str(model_file), options,
                                       providers=["CPUExecutionProvider"])
        tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        config = AutoConfig.from_pretrained(str(path), local_files_only=True)
        length = min(max_length or MAX_LENGTH, _max_length(path, root, tokenizer, config))
        return cls(session, tokenizer, length, int(config.hidden_size),
                   "onnx-int8" if quantize else "onnx")

    @property
    def dim(self) -> int:
        return self._dim

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Embeddings as an (n, dim) float32 array, in the input order.

        All texts are tokenized first and batched by token count, so a batch pads to
        nearly its own length.
        """
        texts = list(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        tokens = self.tokenizer([valid_utf8(t) for t in texts], truncation=True,
                                max_length=self.max_length)
        ids = tokens["input_ids"]
        order = sorted(range(len(texts)), key=lambda i: -len(ids[i]))
        pad = self.tokenizer.pad_token_id or 0
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            lengths = np.array([len(ids[i]) for i in idx])
            input_ids = np.full((len(idx), int(lengths[0])), pad, dtype=np.int64)
            for row, i in enumerate(idx):
                input_ids[row, :lengths[row]] = ids[i]
            mask = (np.arange(input_ids.shape[1]) < lengths[:, None]).astype(np.int64)
            feed = {"input_ids": input_ids, "attention_mask": mask,
                    "token_type_ids": np.zeros_like(input_ids)}  # one segment
            hidden = self.session.run(None, {k: feed[k] for k in self.inputs})[0]
            weights = mask[..., None].astype(np.float32)
            out[idx] = (hidden * weights).sum(1) / np.maximum(weights.sum(1), 1e-9)
        self.calls += 1
        self.texts_encoded += len(texts)
        return out

