"""ROPG's scorer: a shared-weight bi-encoder fine-tuned from per-item LLM feedback.

Queries and documents go through the same `Encoder` (the Contriever recipe), which starts
from the default dense model; an item's score is <e(query), e(doc)>. `train_retriever`
trains it with `pergen.training.loop.fit` into a folder that ``dense:FOLDER``,
``ropg-kd:FOLDER`` and ``ropg-rl:FOLDER`` load.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from ..errors import ConfigError
from ..retrievers.encoder import Encoder
from ..torchutil import split_padded
from ..training.config import TrainConfig
from ..training.feedback_store import FeedbackStore, Pair
from ..training.loop import Example, History, fit


class BiEncoder:
    """Scores a question's items by the dot product of mean-pooled embeddings."""

    def __init__(self, encoder: Encoder) -> None:
        self.encoder, self.model = encoder, encoder.model

    def scores(self, batch: Sequence[Example]) -> torch.Tensor:
        """<e(query), e(doc)> as (B, l), gradients kept; padding scores 0."""
        queries = self.encoder.embed([e.query for e in batch])
        docs = self.encoder.embed([d for e in batch for d in e.docs])
        lengths = [len(e.docs) for e in batch]
        owner = torch.repeat_interleave(torch.arange(len(batch), device=queries.device),
                                        torch.tensor(lengths, device=queries.device))
        return split_padded((docs * queries[owner]).sum(-1), lengths)

    def save(self, folder: Path) -> None:
        self.encoder.save(folder)


def load_examples(stores: Sequence[str | Path]) -> list[Example]:
    """Examples from one or more feedback stores; questions with < 2 items are skipped."""
    examples: list[Example] = []
    for folder in stores:
        for qid, pairs in FeedbackStore(folder).by_question().items():
            if len(pairs) >= 2:
                examples.append(_example(qid, pairs))
    if not examples:
        raise ConfigError(f"no question with at least 2 scored items in {list(map(str, stores))}")
    return examples


def _example(qid: str, pairs: Sequence[Pair]) -> Example:
    return Example(qid, pairs[0].query, tuple(p.doc for p in pairs),
                   tuple(p.value for p in pairs))


def train_retriever(stores: Sequence[str | Path], out_dir: str | Path,
                    config: TrainConfig = TrainConfig(), progress: bool = True,
                    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
                    device: str | None = None) -> History:
    """Train ROPG-KD or ROPG-RL (``config.method``) into `out_dir`; resumes a killed run.

    `device`: cpu or cuda; None picks a GPU when torch sees one. Not part of the run's
    identity: a run may resume on another device."""
    def load(folder: str | None) -> BiEncoder:
        return BiEncoder(Encoder.load(folder or config.init, device=device))

    meta = {"stores": sorted(str(Path(s).resolve()) for s in stores)}
    return fit(load_examples(stores), out_dir, config, load, meta, progress, on_epoch)
