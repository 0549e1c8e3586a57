"""Small synthetic per-user data sets written by the tests, one per task kind, and a
deterministic fake LLM for unit-level pipeline tests.

The users are built so that personalization is visible: every user has a topic word that
runs through their profile and their gold outputs, so a retriever that finds the user's
items and a model that copies from them does better than one that sees no profile.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

from pergen.llm.base import BaseGenerator, Request, WhitespaceTokenizer

TOPICS = ("garden", "rocket", "violin", "harbor")
FILLER = ("news", "today", "report", "story", "update", "notes")


def _write(folder: Path, split: str, task: str, questions: list[dict], golds: dict[str, str]
           ) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{split}_questions.json").write_text(json.dumps(questions), encoding="utf-8")
    outputs = {"task": task, "golds": [{"id": k, "output": v} for k, v in golds.items()]}
    (folder / f"{split}_outputs.json").write_text(json.dumps(outputs), encoding="utf-8")
    return folder


def headlines(folder: Path, split: str = "dev", users: int = 3, per_user: int = 2,
              items: int = 6) -> Path:
    """LaMP-4 style: write a headline for an article; profile items {id, date, text, title}."""
    questions, golds = [], {}
    for u in range(users):
        topic = TOPICS[u % len(TOPICS)]
        profile = [{"id": f"u{u}-p{i}", "date": f"2020-01-{i + 1:02d}",
                    "text": f"an article about the {topic} and {FILLER[i % len(FILLER)]}",
                    "title": f"{topic} {FILLER[i % len(FILLER)]} headline {i}"}
                   for i in range(items)]
        for j in range(per_user):
            qid = f"u{u}-q{j}"
            questions.append({"id": qid, "user_id": f"u{u}", "profile": profile,
                              "input": "Generate a headline for the following article: "
                                       f"the {topic} opened again"})
            # The user's style: their titles share the topic, a filler word and "headline".
            golds[qid] = f"{topic} {FILLER[(j + 1) % len(FILLER)]} headline"
    return _write(folder, split, "LaMP_4", questions, golds)


def tags(folder: Path, split: str = "dev", users: int = 3, per_user: int = 2) -> Path:
    """LaMP-2 style: tag a movie; each user tags by their own habit (a label task)."""
    labels = ("comedy", "action", "fantasy")
    questions, golds = [], {}
    for u in range(users):
        tag = labels[u % len(labels)]
        profile = [{"id": f"u{u}-p{i}", "description": f"a film with {TOPICS[u]} scenes {i}",
                    "tag": tag} for i in range(5)]
        for j in range(per_user):
            qid = f"u{u}-q{j}"
            questions.append({"id": qid, "user_id": f"u{u}", "profile": profile,
                              "input": "Which tag does this movie relate to among the following "
                                       "tags? Just answer with the tag name without further "
                                       "explanation. tags: [sci-fi, based on a book, comedy, "
                                       "action, twist ending, dystopia, dark comedy, classic, "
                                       "psychology, fantasy, romance, thought-provoking, social "
                                       "commentary, violence, true story] description: a film "
                                       f"with {TOPICS[u]} scenes {j + 10}"})
            golds[qid] = tag
    return _write(folder, split, "LaMP_2", questions, golds)


def ratings(folder: Path, split: str = "dev", users: int = 3, per_user: int = 2) -> Path:
    """LaMP-3 style: rate a review 1-5; each user rates around their own mean."""
    questions, golds = [], {}
    for u in range(users):
        mean = 2 + u  # users rate 2, 3, 4
        profile = [{"id": f"u{u}-p{i}", "text": f"review of a {TOPICS[u]} product {i}",
                    "score": str(mean + (i % 2))} for i in range(4)]
        for j in range(per_user):
            qid = f"u{u}-q{j}"
            questions.append({"id": qid, "user_id": f"u{u}", "profile": profile,
                              "input": "What is the score of the following review on a scale of "
                                       "1 to 5? just answer with 1, 2, 3, 4, or 5 without further"
                                       f" explanation. review: the {TOPICS[u]} product {j}"})
            golds[qid] = str(mean)
    return _write(folder, split, "LaMP_3", questions, golds)


KINDS = {"generation": headlines, "label": tags, "rating": ratings}


class FakeLM(BaseGenerator):
    """A deterministic stand-in for an LLM: fast, and sensitive to the prompt.

    `generate` answers with the first retrieved item's output when there is one (a perfect
    copier), else with the first words of the prompt's last line. `label_scores` prefers the
    label that occurs most often in the prompt (ties: a stable hash), and `loglik` is minus
    the number of target words absent from the prompt, so a prompt holding the user's words
    makes their gold more likely. It counts its calls, so tests can check what was reused.
    """

    def __init__(self, name: str = "fake") -> None:
        self.name = name
        self.tokenizer = WhitespaceTokenizer()
        self.calls = 0  # answers: generated or chosen by label scores
        self.scored = 0  # gold outputs scored by `loglik`

    def generate(self, requests: Sequence[Request], max_new_tokens: int) -> list[str]:
        self.calls += len(requests)
        out = []
        for r in requests:
            if r.retrieved:
                out.append(r.task.output_of(r.retrieved[0]))
            else:
                last = r.prompt.strip().splitlines()[-1].split()
                out.append(" ".join(last[-max(1, min(max_new_tokens, 4)):]))
        return out

    def label_scores(self, requests: Sequence[Request], labels: Sequence[str]
                     ) -> list[list[float]]:
        self.calls += len(requests)
        return [[float(r.prompt.count(f'"{lab}"')) + _tiebreak(r.prompt, lab) for lab in labels]
                for r in requests]

    def loglik(self, requests: Sequence[Request], targets: Sequence[str]) -> list[float]:
        self.scored += len(requests)
        return [-float(sum(w not in r.prompt for w in t.split())) for r, t in zip(requests, targets)]


def _tiebreak(prompt: str, label: str) -> float:
    digest = hashlib.sha256(f"{prompt}\0{label}".encode()).digest()
    return digest[0] / 1000.0
