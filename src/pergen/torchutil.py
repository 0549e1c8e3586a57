"""Small torch helpers shared by the encoders, the LLM backend and training.

Import this module only where torch is already needed: it imports torch itself.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def resolve_device(device: str | None = "auto") -> torch.device:
    """``auto``/None: a CUDA GPU when torch sees one, else the CPU; ``cuda`` without a GPU
    is an error that says so, instead of torch's failure at the first tensor moved."""
    from .errors import ConfigError

    name = (device or "auto").lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"{{option}} {device}: torch sees no CUDA GPU here (torch "
                          f"{torch.__version__}); use cpu or auto", option="device")
    try:
        return torch.device(name)
    except RuntimeError:
        raise ConfigError(f"{{option}} {device!r} is not a device; accepted: auto, cpu, cuda, "
                          "cuda:N", option="device") from None


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean of the token states over real tokens: (B, T, H) x (B, T) -> (B, H)."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)


def pad_rows(rows: Sequence[Sequence[float]] | Sequence[Sequence[int]], pad: float, *,
             left: bool = False, dtype: torch.dtype = torch.long
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of different lengths as one (B, width) tensor and its 0/1 mask of real values.

    `left` puts the padding first (causal LMs: every row's next token is the last column).
    """
    width = max((len(r) for r in rows), default=0)
    values = torch.full((len(rows), width), pad, dtype=dtype)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        if len(row):
            cols = slice(width - len(row), width) if left else slice(0, len(row))
            values[i, cols] = torch.tensor(list(row), dtype=dtype)
            mask[i, cols] = 1
    return values, mask


def split_padded(flat: torch.Tensor, lengths: Sequence[int]) -> torch.Tensor:
    """Consecutive groups of a flat (N,) tensor as rows of a (B, max length) tensor, zero
    padded, gradients kept (per-question scores of a variable number of items)."""
    out = flat.new_zeros(len(lengths), max(lengths, default=0))
    start = 0
    for i, n in enumerate(lengths):
        out[i, :n] = flat[start:start + n]
        start += n
    return out
