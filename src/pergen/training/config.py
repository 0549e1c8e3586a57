"""The training hyper-parameters ROPG and RSPG share, apart from the torch loop.

Kept free of torch so the command line can list the accepted values without loading it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError, bad_choice

METHODS = ("kd", "rl")
SELECT_BY = ("loss", "feedback")  # the held-out figure that picks the best epoch


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters; the paper's values where it gives them."""

    method: str = "kd"
    epochs: int = 10  # paper: 10 for retrievers, 20 for selectors
    batch_size: int = 8  # questions per step, each with its l items
    accumulation: int = 1  # steps per optimizer update (paper: 8, effective batch 64)
    lr: float = 1e-5
    warmup: float = 0.05
    clip: float = 1.0
    temperature: float = 1.0  # KD only
    dev_fraction: float = 0.1
    patience: int = 3  # epochs without a better held-out figure before stopping
    seed: int = 0
    init: str | None = None  # model folder to start from; None = the default one
    select_by: str = "loss"  # loss: lowest held-out loss; feedback: best held-out top-1

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise bad_choice("method", self.method, METHODS)
        if self.select_by not in SELECT_BY:
            raise bad_choice("select_by", self.select_by, SELECT_BY)
        if not 0 < self.dev_fraction < 1:
            raise ConfigError(f"dev_fraction must be in (0, 1), got {self.dev_fraction}")
        if self.epochs < 1 or self.batch_size < 1 or self.accumulation < 1:
            raise ConfigError("epochs, batch_size and accumulation must be >= 1")
