"""Learning to score a question's candidates from feedback: the loop ROPG and RSPG share.

A `Scorer` gives each question's candidates a score (ROPG: profile items by a bi-encoder;
RSPG: retrievers' prompts by an encoder with a linear head); `fit` trains it against the
feedback with the paper's recipe: Adam, linear warm-up over the first 5% of steps then
linear decay, gradient clipping at 1.0, KD (KL to the softmax of the feedback) or RL
(REINFORCE). A seeded hold-out of the training questions picks the best epoch and stops
early; the best model is written to the output folder. The best epoch is the one with the
lowest held-out loss by default, or (``select_by="feedback"``) the one whose first-ranked
candidates have the highest mean feedback: on the 1.5B's tweets feedback the two disagree,
the loss falling while the first item gets worse (``bench/RESULTS.md``, issue 22). After
every epoch a checkpoint (weights, optimizer, scheduler, random states) is written
atomically, so an interrupted run resumes at the next epoch and ends with the same model
as an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from tqdm.auto import tqdm

from ..errors import ConfigError
from ..run.storage import atomic_write_json
from ..torchutil import pad_rows
from .config import TrainConfig
from .losses import expected_reward, kd_loss, rl_loss, sample_actions

TRAINING_FILE = "training.json"
CHECKPOINT = "checkpoint"


@dataclass(frozen=True)
class Example:
    """A training question: its query, its candidates' texts (column 0: the initial
    system's first choice) and their feedback."""

    question: str
    query: str
    docs: tuple[str, ...]
    feedback: tuple[float, ...]
    outputs: tuple[str, ...] | None = None  # RSPG-Post: each candidate's LLM answer


class Scorer(Protocol):
    """A trainable model that scores each example's candidates."""

    model: Any  # the torch module whose parameters are trained

    def scores(self, batch: Sequence[Example]) -> torch.Tensor:
        """(B, width) scores with gradients; padding columns are ignored by the losses."""
        ...

    def save(self, folder: Path) -> None: ...


@dataclass
class History:
    """Per-epoch dev figures; epoch 0 is the untrained model."""

    epochs: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    best_dev_loss: float = float("inf")  # the best epoch's held-out loss
    stopped_early: bool = False


def split_dev(examples: Sequence[Example], fraction: float, seed: int
              ) -> tuple[list[Example], list[Example]]:
    """A seeded hold-out by question id: the same questions whatever the store order."""
    def rank(e: Example) -> str:
        return hashlib.sha256(f"{seed}:{e.question}".encode()).hexdigest()
    ordered = sorted(examples, key=rank)
    n_dev = max(1, round(len(ordered) * fraction))
    if n_dev >= len(ordered):
        raise ConfigError(f"{len(ordered)} question(s) are too few to hold out a dev split")
    return ordered[n_dev:], ordered[:n_dev]


def _batch_tensors(batch: Sequence[Example]) -> tuple[torch.Tensor, torch.Tensor]:
    """Feedback (B, l) padded with 0, and the mask of real items."""
    feedback, mask = pad_rows([e.feedback for e in batch], 0.0, dtype=torch.float32)
    return feedback, mask.bool()


def batch_loss(method: str, scores: torch.Tensor, feedback: torch.Tensor, mask: torch.Tensor,
               temperature: float, generator: torch.Generator | None) -> torch.Tensor:
    if method == "kd":
        return kd_loss(scores, feedback, temperature, mask)
    actions = sample_actions(scores, mask, generator)
    return rl_loss(scores, feedback, actions, mask)


def evaluate_dev(scorer: Scorer, dev: Sequence[Example], method: str, temperature: float,
                 batch_size: int = 16) -> dict[str, float]:
    """Dev loss (KD: the KL; RL: minus the expected reward) and the mean feedback of the
    candidate the scorer ranks first, over held-out questions."""
    was_training = scorer.model.training
    scorer.model.eval()
    loss = top1 = 0.0
    with torch.no_grad():
        for start in range(0, len(dev), batch_size):
            batch = dev[start:start + batch_size]
            feedback, mask = _batch_tensors(batch)
            scores = scorer.scores(batch).float().cpu()
            part = (kd_loss(scores, feedback, temperature, mask) if method == "kd"
                    else -expected_reward(scores, feedback, mask))
            loss += float(part) * len(batch)
            best = scores.masked_fill(~mask, -1e9).argmax(-1)
            top1 += float(feedback.gather(-1, best[:, None]).sum())
    scorer.model.train(was_training)
    return {"dev_loss": loss / len(dev), "dev_top1_feedback": top1 / len(dev)}


def fit(examples: Sequence[Example], out_dir: str | Path, config: TrainConfig,
        load: Callable[[str | None], Scorer], meta: dict[str, Any], progress: bool = True,
        on_epoch: Callable[[int, dict[str, float]], None] | None = None) -> History:
    """Train the scorer `load(folder)` gives (None: a fresh one) into `out_dir`.

    `meta` describes the run (config, data); resuming with a different one is refused.
    """
    out = Path(out_dir)
    train, dev = split_dev(examples, config.dev_fraction, config.seed)
    meta = {"config": asdict(config), **meta}
    state = _resume(out, meta)
    random.seed(config.seed)
    torch.manual_seed(config.seed)
    scorer = load(state["weights"] if state else None)
    scorer.model.train()
    optimizer = torch.optim.Adam(scorer.model.parameters(), lr=config.lr)
    batches = -(-len(train) // config.batch_size)
    updates = -(-batches // config.accumulation)
    scheduler = _linear_schedule(optimizer, config.warmup, updates * config.epochs)
    generator = torch.Generator().manual_seed(config.seed)
    history = History()
    if state:
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        generator.set_state(state["generator"])
        random.setstate(state["random"])
        torch.set_rng_state(state["torch"])  # dropout masks continue as if never stopped
        history = History(**state["history"])
    else:
        figures = evaluate_dev(scorer, dev, config.method, config.temperature)
        history.epochs.append({"epoch": 0, **figures})
        history.best_dev_loss = figures["dev_loss"]
        _save_best(scorer, out, meta, history)
    for epoch in range(len(history.epochs), config.epochs + 1):
        if history.stopped_early:
            break
        order = random.sample(range(len(train)), len(train))
        train_loss = _train_epoch(scorer, [train[i] for i in order], config, optimizer,
                                  scheduler, generator, progress, epoch)
        figures = {"epoch": epoch, "train_loss": train_loss,
                   **evaluate_dev(scorer, dev, config.method, config.temperature)}
        history.epochs.append(figures)
        if _improves(config.select_by, figures, history.epochs[history.best_epoch]):
            history.best_dev_loss, history.best_epoch = figures["dev_loss"], epoch
            _save_best(scorer, out, meta, history)
        elif epoch - history.best_epoch >= config.patience:
            history.stopped_early = True
        _save_checkpoint(out, scorer, optimizer, scheduler, generator, history)
        atomic_write_json(out / TRAINING_FILE, {**meta, "history": asdict(history)})
        if on_epoch:
            on_epoch(epoch, figures)
    return history


def _improves(select_by: str, figures: dict[str, float], best: dict[str, float]) -> bool:
    """Whether an epoch's held-out figures beat the best epoch's by the chosen measure."""
    if select_by == "feedback":
        return figures["dev_top1_feedback"] > best["dev_top1_feedback"]
    return figures["dev_loss"] < best["dev_loss"]


def _train_epoch(scorer: Scorer, train: Sequence[Example], config: TrainConfig,
                 optimizer: torch.optim.Optimizer, scheduler: Any, generator: torch.Generator,
                 progress: bool, epoch: int) -> float:
    total, steps = 0.0, 0
    batches = [train[i:i + config.batch_size] for i in range(0, len(train), config.batch_size)]
    bar = tqdm(batches, disable=not progress, desc=f"{config.method} epoch {epoch}",
               unit="batch")
    for step, batch in enumerate(bar, 1):
        feedback, mask = _batch_tensors(batch)
        scores = scorer.scores(batch)
        loss = batch_loss(config.method, scores.float().cpu(), feedback, mask,
                          config.temperature, generator)
        (loss / config.accumulation).backward()
        total, steps = total + loss.item(), steps + 1
        if step % config.accumulation == 0 or step == len(batches):
            torch.nn.utils.clip_grad_norm_(scorer.model.parameters(), config.clip)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
        bar.set_postfix(loss=f"{total / steps:.4f}")
    return total / max(1, steps)


def _linear_schedule(optimizer: torch.optim.Optimizer, warmup: float, total: int) -> Any:
    """Linear warm-up over `warmup` of the steps, then linear decay to 0 (as in the paper)."""
    from transformers import get_linear_schedule_with_warmup
    return get_linear_schedule_with_warmup(optimizer, int(warmup * total), max(1, total))


# -- files --------------------------------------------------------------------------------
def _save_best(scorer: Scorer, out: Path, meta: dict[str, Any], history: History) -> None:
    """Write the model into `out`: saved beside it first, then moved in file by file."""
    staging = out / ".best.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    scorer.save(staging)
    for f in staging.iterdir():
        f.replace(out / f.name)
    staging.rmdir()
    atomic_write_json(out / TRAINING_FILE, {**meta, "history": asdict(history)})


def _save_checkpoint(out: Path, scorer: Scorer, optimizer: torch.optim.Optimizer,
                     scheduler: Any, generator: torch.Generator, history: History) -> None:
    """Weights and training state in a fresh folder, swapped in whole."""
    tmp, final, old = out / f"{CHECKPOINT}.tmp", out / CHECKPOINT, out / f"{CHECKPOINT}.old"
    shutil.rmtree(tmp, ignore_errors=True)
    scorer.save(tmp)
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "generator": generator.get_state(), "random": random.getstate(),
                "torch": torch.get_rng_state(),
                "history": asdict(history)}, tmp / "state.pt")
    if final.exists():
        final.replace(old)
    tmp.replace(final)
    shutil.rmtree(old, ignore_errors=True)


def _resume(out: Path, meta: dict[str, Any]) -> dict[str, Any] | None:
    """The checkpoint to resume from, or None for a fresh run; refuses a different run."""
    info = out / TRAINING_FILE
    if not info.exists():
        if out.exists() and any(out.iterdir()):
            raise ConfigError(f"{out} is not empty and holds no training run; use a new folder")
        return None
    stored = json.loads(info.read_text(encoding="utf-8"))
    # a setting added since the run was written had its default then
    stored["config"] = {**asdict(TrainConfig()), **stored.get("config", {})}
    if {k: stored.get(k) for k in meta} != meta:
        raise ConfigError(f"{out} holds a training run with other settings or data "
                          f"({stored.get('config')}); use another folder or delete it")
    folder = out / CHECKPOINT
    if not (folder / "state.pt").exists():
        old = out / f"{CHECKPOINT}.old"  # killed between the two renames
        folder = old if (old / "state.pt").exists() else folder
    if not (folder / "state.pt").exists():
        if stored["history"]["epochs"][1:]:
            raise ConfigError(f"{out}: training.json lists finished epochs but the checkpoint "
                              "is gone; delete the folder to start over")
        return None  # killed during the first epoch: start again
    # On the CPU first: a run checkpointed on a GPU resumes on any device (the optimizer
    # moves its state to the parameters' device when it loads it).
    state: dict[str, Any] = torch.load(folder / "state.pt", weights_only=False,
                                       map_location="cpu")
    state["weights"] = str(folder)
    return state
