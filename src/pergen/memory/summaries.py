"""Preference summaries: a short text about the user, in the prompt before the items.

Research note 002 (PRIME): abstract summaries of a user's preferences (semantic memory)
beat retrieving raw past items (episodic memory). A summary is built from a profile by a
summarizer:

- ``llm``: the run's LLM writes it from the user's most recent outputs (output first, as
  note 000 suggests), with the task's ``summary_prompt`` and at most `summary_tokens`
  new tokens;
- ``stats``: no LLM: the label or rating distribution, the typical output length, the
  words most distinctive of this user against all users (tf-idf over the split's users)
  and two recent outputs.

Summaries are cached on disk (`SummaryCache`, a journal keyed by summarizer, task and the
profile's content), so each is computed once, a killed run resumes, and every later run
with the same profiles reuses them; ``pergen summarize`` builds them ahead.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from statistics import mean, median
from typing import Any, Protocol

from tqdm.auto import tqdm

from ..data.records import ProfileItem, Question
from ..errors import ConfigError, bad_choice
from ..llm import DEFAULT_MODEL
from ..llm.base import Generator, Request
from ..retrievers.recency import newest_first
from ..run.settings import SUMMARIZERS
from ..run.storage import Journal, cache_dir
from ..tasks import TaskSpec

PROMPT_CONTEXT_TOKENS = 400  # outputs shown to the llm summarizer, newest first
_WORD = re.compile(r"[a-z0-9][a-z0-9'-]+")


class Summarizer(Protocol):
    name: str  # with everything that changes its output (model, length, population)

    def summarize(self, profiles: Sequence[Sequence[ProfileItem]]) -> list[str]: ...


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


class StatsSummarizer:
    """Numbers and words of the profile, no LLM (see the module docstring)."""

    def __init__(self, task: TaskSpec, population: Iterable[Sequence[ProfileItem]],
                 terms: int = 6) -> None:
        self.task, self.terms = task, terms
        self.users = 0
        self.df: Counter[str] = Counter()
        for profile in population:
            self.users += 1
            self.df.update({w for item in profile for w in _words(task.output_of(item))})
        digest = hashlib.sha256(json.dumps(sorted(self.df.items())).encode()).hexdigest()[:8]
        self.name = f"stats:{terms}:{digest}"

    def summarize(self, profiles: Sequence[Sequence[ProfileItem]]) -> list[str]:
        return [self._one(p) for p in profiles]

    def _one(self, profile: Sequence[ProfileItem]) -> str:
        outputs = [o for o in (self.task.output_of(i) for i in newest_first(profile)) if o]
        if not outputs:
            return ""
        # Labels that name candidates of the input (LaMP-1, tweets) are not the user's.
        labelled = bool(self.task.labels) and not self.task.candidates_regex
        parts = [self._labels(outputs)] if labelled else []
        parts.append(f"their outputs are typically {median(len(o.split()) for o in outputs):.0f} "
                     "words long")
        if terms := self._distinctive(outputs):
            parts.append("words they use more than others: " + ", ".join(terms))
        parts.append("recent examples: " + "; ".join(f'"{o}"' for o in outputs[:2]))
        return "; ".join(parts)

    def _labels(self, outputs: Sequence[str]) -> str:
        counts = Counter(o.strip() for o in outputs)
        shares = ", ".join(f"{label} {n / len(outputs):.0%}" for label, n in counts.most_common(4))
        numbers = [float(o) for o in outputs if _is_number(o)]
        if numbers and len(numbers) == len(outputs):
            return f"ratings average {mean(numbers):.1f} ({shares})"
        return f"labels {shares}"

    def _distinctive(self, outputs: Sequence[str]) -> list[str]:
        tf = Counter(w for o in outputs for w in _words(o))
        score = {w: n * math.log((1 + self.users) / (1 + self.df[w])) for w, n in tf.items()}
        ranked = sorted((w for w in score if score[w] > 0), key=lambda w: (-score[w], w))
        return ranked[:self.terms]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class LLMSummarizer:
    """The run's LLM describes the user from their most recent outputs."""

    def __init__(self, task: TaskSpec, model: Generator, summary_tokens: int = 96) -> None:
        self.task, self.model, self.summary_tokens = task, model, summary_tokens
        self.name = f"llm:{model.name}:{summary_tokens}"

    def summarize(self, profiles: Sequence[Sequence[ProfileItem]]) -> list[str]:
        todo = [i for i, p in enumerate(profiles) if p]
        requests = [Request(prompt=self._prompt(profiles[i]), input="", retrieved=(),
                            task=self.task) for i in todo]
        out = [""] * len(profiles)
        for i, text in zip(todo, self.model.generate(requests, self.summary_tokens)):
            out[i] = " ".join(text.split())
        return out

    def _prompt(self, profile: Sequence[ProfileItem]) -> str:
        lines: list[str] = []
        used = 0
        for item in newest_first(profile):
            line = self._line(item)
            cost = len(self.model.tokenizer.encode(line)) + 1
            if lines and used + cost > PROMPT_CONTEXT_TOKENS:
                break
            lines.append(line)
            used += cost
        return self.task.summary_prompt.replace("$outputs", "\n".join(lines))

    def _line(self, item: ProfileItem) -> str:
        """Output first; for label tasks, the input it labelled after it."""
        output = self.task.output_of(item)
        context = " ".join(item.get(f) for f in self.task.input_fields if item.get(f))
        return f"- {output}: {context[:160]}" if self.task.labels and context else f"- {output}"


def get_summarizer(name: str, task: TaskSpec, model: Generator | None,
                   population: Iterable[Sequence[ProfileItem]], summary_tokens: int = 96
                   ) -> Summarizer:
    if name == "stats":
        return StatsSummarizer(task, population)
    if name == "llm":
        if model is None:
            raise ConfigError("{option} llm needs a model", option="summarizer")
        return LLMSummarizer(task, model, summary_tokens)
    raise bad_choice("summarizer", name, SUMMARIZERS)


def profile_key(summarizer: str, task: TaskSpec, profile: Sequence[ProfileItem]) -> str:
    """What a summary depends on: the summarizer (with its model), the task and the items."""
    content = [summarizer, task.name, task.summary_prompt,
               [[i.id, sorted(i.fields.items())] for i in profile]]
    return hashlib.sha256(json.dumps(content).encode("utf-8")).hexdigest()[:24]


class SummaryCache:
    """Summaries on disk, one journal line each, keyed by `profile_key`."""

    def __init__(self, folder: str | Path | None = None) -> None:
        self.folder = Path(folder) if folder else cache_dir() / "summaries"
        self.journal = Journal(self.folder / "summaries.jsonl", key="key")
        self.computed = self.reused = 0

    def summaries(self, summarizer: Summarizer, task: TaskSpec,
                  profiles: Sequence[Sequence[ProfileItem]], batch_size: int = 8,
                  progress: bool = False) -> list[str]:
        """A summary per profile: from the cache, or computed (in batches, each appended
        as soon as it is done, so an interruption loses at most one batch)."""
        keys = [profile_key(summarizer.name, task, p) for p in profiles]
        done = self.journal.read()
        todo: dict[str, Sequence[ProfileItem]] = {}
        for key, profile in zip(keys, profiles):
            if key not in done and key not in todo:
                todo[key] = profile
        self.reused += len(set(keys)) - len(todo)
        pending = list(todo.items())
        bar = tqdm(total=len(pending), disable=not progress, desc=f"summaries/{summarizer.name}",
                   unit="user")
        for start in range(0, len(pending), batch_size):
            batch = pending[start:start + batch_size]
            texts = summarizer.summarize([p for _, p in batch])
            self.journal.append([{"key": k, "summary": t} for (k, _), t in zip(batch, texts)])
            self.computed += len(batch)
            bar.update(len(batch))
        bar.close()
        done = self.journal.read() if pending else done
        return [str(done[k]["summary"]) for k in keys]


def question_summaries(questions: Sequence[Question], task: TaskSpec, summarizer: Summarizer,
                       cache: SummaryCache, progress: bool = False) -> dict[str, str]:
    """The summary of every question's profile (questions of one user share it)."""
    texts = cache.summaries(summarizer, task, [q.profile for q in questions], progress=progress)
    return {q.id: t for q, t in zip(questions, texts)}


def describe(cache: SummaryCache) -> dict[str, Any]:
    return {"computed": cache.computed, "reused": cache.reused, "folder": str(cache.folder)}


def summarize(data_dir: str | Path, split: str, out_dir: str | Path | None = None,
              summarizer: str = "llm", model: str | Generator = DEFAULT_MODEL,
              task: str | TaskSpec | None = None, limit: int | None = None,
              summary_tokens: int = 96, progress: bool = True) -> SummaryCache:
    """Build the summaries of every user's profiles in a split ahead of `evaluate` (into
    `out_dir`, which `evaluate(summaries_dir=...)` then reads); resumable."""
    from ..data.splits import check_split, load_split, resolve_task
    from ..llm import get_model
    from ..run.settings import check_model
    from .levels import Population

    if summarizer not in SUMMARIZERS:
        raise bad_choice("summarizer", summarizer, SUMMARIZERS)
    check_model(model)
    check_split(data_dir, split)
    spec = resolve_task(data_dir, split, task)
    questions = load_split(data_dir, split, limit, task=spec)
    generator = None if summarizer == "stats" else (
        get_model(model) if isinstance(model, str) else model)
    users = [list(p.values()) for p in Population(questions, spec).users.values()]
    built = get_summarizer(summarizer, spec, generator, users, summary_tokens)
    cache = SummaryCache(out_dir)
    question_summaries(questions, spec, built, cache, progress)
    return cache

