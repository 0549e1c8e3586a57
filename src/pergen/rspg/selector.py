"""RSPG's selection model: which retriever's prompt (Pre) or prompt and answer (Post) will
serve the LLM best, for this input?

An encoder (default: the MiniLM of dense retrieval; any transformers encoder folder) with
a linear head scores each retriever's candidate text; the highest score wins. Training
(`train_selector`) minimizes KL(softmax(metrics) || softmax(scores)) over a question's
retrievers (paper eq. 6) with the shared loop of `pergen.training.loop`, from a per-retriever
feedback store (`pergen.training.feedback.collect_retriever_feedback`).

Truncation: prompts put the profile first and the input last, so a prompt is cut from
its start (`truncation_side="left"`): the input and the later items stay. In Post, only the
prompt is cut; the LLM's answer, the second segment, is kept whole.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from ..errors import ConfigError
from ..retrievers.encoder import Encoder, valid_utf8
from ..run.storage import atomic_write_json
from ..torchutil import mean_pool, split_padded
from ..training.config import TrainConfig
from ..training.feedback_store import FeedbackStore
from ..training.loop import Example, History, fit
from .context import SelectionContext

MODES = ("pre", "post")
SETTINGS = "pergen_selector.json"
HEAD = "selector_head.pt"
MAX_LENGTH = 512  # the paper used 1024 with Longformer; MiniLM has 512 positions


class Selector(torch.nn.Module):
    """Encoder + linear head over each candidate's text; a `pergen.training.loop.Scorer`."""

    def __init__(self, encoder: Encoder, mode: str, pool: Sequence[str]) -> None:
        super().__init__()
        if mode not in MODES:
            raise ConfigError(f"unknown selector mode {mode!r}; known: {', '.join(MODES)}")
        self.encoder, self.mode, self.pool = encoder, mode, list(pool)
        self.net = encoder.model  # registered as a submodule: trained with the head
        self.head = torch.nn.Linear(encoder.dim, 1).to(encoder.device)
        encoder.tokenizer.truncation_side = "left"

    @property
    def model(self) -> torch.nn.Module:
        return self

    @classmethod
    def load(cls, folder: str | Path, device: str | None = None) -> Selector:
        """A selector saved by `save` (or by `train_selector`); `device` as `Encoder.load`."""
        folder = Path(folder)
        settings_path = folder / SETTINGS
        if not settings_path.exists():
            raise ConfigError(f"{folder} holds no selector ({SETTINGS} missing); train one with "
                              "`pergen train-selector`")
        settings = json.loads(settings_path.read_text(encoding="utf-8"))
        selector = cls(_encoder(folder, device), settings["mode"], settings["pool"])
        selector.head.load_state_dict(torch.load(folder / HEAD, map_location=selector.encoder.device))
        selector.eval()
        return selector

    def save(self, folder: Path) -> None:
        self.encoder.save(folder)
        torch.save(self.head.state_dict(), folder / HEAD)
        atomic_write_json(folder / SETTINGS, {"mode": self.mode, "pool": self.pool})

    def text_scores(self, prompts: Sequence[str], outputs: Sequence[str] | None = None
                    ) -> torch.Tensor:
        """One score per candidate (gradients kept): prompt alone (pre) or with its answer."""
        tok = self.encoder.tokenizer
        pair = ([valid_utf8(o) for o in outputs] if self.mode == "post" and outputs is not None
                else None)
        batch = tok([valid_utf8(p) for p in prompts], pair, padding=True, max_length=self.encoder.max_length,
                    truncation="only_first" if pair else True, return_tensors="pt")
        batch = batch.to(self.encoder.device)
        pooled = mean_pool(self.net(**batch).last_hidden_state, batch["attention_mask"])
        return self.head(pooled)[:, 0]

    def scores(self, batch: Sequence[Example]) -> torch.Tensor:
        """(B, R) scores of each question's retrievers; padding scores 0."""
        flat = self.text_scores([d for e in batch for d in e.docs],
                                [o for e in batch for o in (e.outputs or ("",) * len(e.docs))])
        return split_padded(flat, [len(e.docs) for e in batch])

    def select(self, ctx: SelectionContext) -> dict[str, str]:
        """Per question, the pool retriever to use: from its prompt in the pool's journal
        (Pre) and its answer (Post)."""
        journals = {p: ctx.journal(p) for p in self.pool}
        choices = {}
        for q in ctx.questions:
            prompts = [journals[p][q.id]["prompt"] for p in self.pool]
            outputs = [ctx.runs[p].predictions[q.id] for p in self.pool]
            choices[q.id] = self.pool[self.choose(prompts, outputs)]
        return choices

    def choose(self, prompts: Sequence[str], outputs: Sequence[str] | None = None) -> int:
        """Index of the best candidate among one question's retrievers (pool order)."""
        if self.mode == "post" and outputs is None:
            raise ConfigError("a post-generation selector needs each retriever's output")
        with torch.no_grad():
            scores = self.text_scores(prompts, outputs)
        return int(torch.argmax(scores))


def _encoder(folder: str | Path | None, device: str | None = None) -> Encoder:
    encoder = Encoder.load(folder, device=device)
    positions = getattr(encoder.model.config, "max_position_embeddings", MAX_LENGTH)
    encoder.max_length = min(MAX_LENGTH, int(positions))  # room for prompt + answer
    return encoder


def load_selector_examples(store: str | Path) -> tuple[list[Example], list[str]]:
    """Examples (one per question: its retrievers' prompts, answers and metric values) and
    the pool of retrievers, from a per-retriever feedback store."""
    fb = FeedbackStore(store)
    if fb.key.unit != "retriever":
        raise ConfigError(f"{store} holds per-item feedback; RSPG needs per-retriever feedback "
                          "(`pergen feedback --per-retriever`)")
    pool = fb.key.retriever.split("|")
    examples = []
    for qid, pairs in fb.by_question().items():
        if [p.item for p in pairs] == pool:  # questions every retriever answered
            examples.append(Example(qid, pairs[0].query, tuple(p.doc for p in pairs),
                                    tuple(p.value for p in pairs),
                                    tuple(p.output or "" for p in pairs)))
    if not examples:
        raise ConfigError(f"no question in {store} was answered by the whole pool {pool}")
    return examples, pool


def train_selector(store: str | Path, out_dir: str | Path, mode: str = "pre",
                   config: TrainConfig = TrainConfig(method="kd", epochs=20), progress: bool = True,
                   on_epoch: Callable[[int, dict[str, float]], None] | None = None,
                   device: str | None = None) -> History:
    """Train RSPG-Pre or RSPG-Post into `out_dir`, a folder ``rspg-pre:OUT`` loads; `device`
    as `train_retriever`'s."""
    if config.method != "kd":
        raise ConfigError("RSPG selectors train with the KL objective (method 'kd')")
    examples, pool = load_selector_examples(store)
    if mode == "post" and FeedbackStore(store).key.signal != "metric":
        raise ConfigError("RSPG-Post learns from the LLM's answers: it needs feedback collected "
                          "with --signal metric")

    def load(folder: str | None) -> Any:
        if folder:
            return Selector.load(folder, device)
        return Selector(_encoder(config.init, device), mode, pool)

    meta = {"store": str(Path(store).resolve()), "mode": mode, "pool": pool}
    return fit(examples, out_dir, config, load, meta, progress, on_epoch)
