"""Confidence per answer, in [0, 1]: how sure the model is of what it answered.

Research note 001: personalization fails worst where the model is confidently wrong, and
the brake is letting it abstain when unsure; both need a number per answer.

``prob`` (the default, for models that score text):

- label and rating tasks answered by likelihood: the softmax, over the task's labels, of
  the very scores the run picked its label from, at the picked label. With label mode
  ``calibrate`` (or ``prior``) these are the batch-calibrated scores, so the confidence
  is that of the calibrated choice: p(l | x) divided by each label's run-wide geometric
  mean, renormalized. It is monotone in the margin between the chosen label and the rest.
- generation: the geometric-mean token probability of the answer given the prompt,
  exp(log p(answer | prompt) / tokens), one extra batched scoring pass (`loglik`). An
  empty answer gets 0.

``verbal``: the model is shown its prompt and answer and asked how sure it is, 0 to 100
(`VERBAL_PROMPT`); the first number of its reply, over 100, is the confidence. A reply
without a usable number leaves the answer without a confidence, and is counted.

``agreement`` (label and rating tasks answered by likelihood): whether the LLM's answer
and the no-LLM vote's answer on the same profile agree (the similarity vote with cosine
scores on choice tasks, the kNN label vote elsewhere: the votes `pergen.run.references`
runs), graded by both margins. Each margin (the LLM's best-minus-second probability, the
vote's own) becomes its percentile over the run, so neither's scale matters; an answer
both agree on gets 0.5 + (m_llm + m_vote) / 4, one they disagree on (1 + m_llm - m_vote)
/ 4. Every agreement so ranks above every disagreement: independent evidence that agrees
is the signal (on the tweets the two agree on half the questions, and are right on 71% of
those, issue 21).

None is calibrated against correctness: ``prob`` is the model's own probability (after
label-bias removal where the run applies it), ``verbal`` what it says. How far either is
from the accuracy it predicts is the ECE that `pergen score` and the report print.

Models that do not score text (knn, copy-input, the vote and prior baselines, an
OpenAI-compatible server) give no ``prob``; baselines that are not LLMs give no
``verbal`` either: their runs get no ``confidence.json``, and a note says why.

The journal keeps what costs a model call (``prob`` of a generated answer, ``verbal``
replies) under ``confidence``, with the answer it is about, so a resumed run reuses it;
label probabilities are derived again from the journal's ``label_scores``.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from scipy.special import softmax
from scipy.stats import rankdata

from ..baselines.votes import vote_evidence
from ..data.records import Question
from ..llm.base import Generator, LabelScorer, Request, can_score, is_llm, stored_request
from ..run.storage import Journal
from ..tasks import TaskSpec

CONFIDENCES = ("prob", "verbal", "agreement", "none")
FIELD = "confidence"  # the journal record's field
VERBAL_PROMPT = string.Template(
    "$prompt\nAnswer: $answer\n\nHow sure are you that this answer is correct? Reply with one "
    "number from 0 (a pure guess) to 100 (certain).")
VERBAL_TOKENS = 8
_NUMBER = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)\s*(%?)")


@dataclass
class Measured:
    """A run's confidences: question id -> value, replies without a number, and why none."""

    method: str
    values: dict[str, float]
    unparsed: int = 0
    note: str | None = None


def label_confidence(scores: Any) -> list[float]:
    """Per row of (questions, labels) scores: the softmax probability of the best label."""
    x = np.asarray(scores, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] == 0:
        raise ValueError(f"expected (questions, labels) scores, got shape {x.shape}")
    return [float(v) for v in softmax(x, axis=1).max(axis=1)]


def sequence_confidence(model: LabelScorer, tokenizer: Any, requests: Sequence[Request],
                        answers: Sequence[str]) -> list[float]:
    """exp(mean token log-probability) of each answer given its prompt; 0 for an empty one."""
    sums = model.loglik(requests, answers)
    out = []
    for total, a in zip(sums, answers):
        n = len(tokenizer.encode(a)) if a.strip() else 0
        out.append(min(1.0, math.exp(total / n)) if n else 0.0)
    return out


def verbal_prompt(prompt: str, answer: str) -> str:
    return VERBAL_PROMPT.substitute(prompt=prompt, answer=answer)


def parse_verbal(reply: str) -> float | None:
    """The first number of a reply as a confidence: ``85``, ``85%`` -> 0.85; a decimal
    at most 1 (``0.7``) is taken as a fraction; anything above 100, or no number: None."""
    found = _NUMBER.search(reply)
    if found is None:
        return None
    value = float(found.group(1))
    if "." in found.group(1) and value <= 1.0 and not found.group(2):
        return value
    return value / 100.0 if value <= 100.0 else None


def unavailable(method: str, model: Generator) -> str | None:
    """Why `model` cannot give `method` confidences, or None when it can."""
    if method == "prob" and not can_score(model):
        return (f"{model.name} does not score text, so its answers have no probability: "
                "no confidence.json (--confidence verbal asks an LLM instead)")
    if method == "agreement" and not can_score(model):
        return (f"{model.name} does not score labels, so its answers have no margin to agree "
                "with a vote: no confidence.json")
    if method == "verbal" and not is_llm(model):
        return f"{model.name} is not an LLM and cannot say how sure it is: no confidence.json"
    return None


def _entry(method: str, answer: str, value: float | None, reply: str | None = None
           ) -> dict[str, Any]:
    entry: dict[str, Any] = {"method": method, "answer": answer, "value": value}
    if reply is not None:
        entry["reply"] = reply
    return entry


def ask(method: str, model: Generator, requests: Sequence[Request], answers: Sequence[str]
        ) -> list[dict[str, Any]]:
    """The journal entries of `answers` by a method that costs a model call (one batch)."""
    if method == "prob":
        assert isinstance(model, LabelScorer)
        values = sequence_confidence(model, model.tokenizer, requests, answers)
        return [_entry(method, a, v) for a, v in zip(answers, values)]
    # One user turn: the question about the answer follows the plain rendering of its prompt.
    asked = [replace(r, prompt=verbal_prompt(r.prompt, a), messages=())
             for r, a in zip(requests, answers)]
    replies = model.generate(asked, VERBAL_TOKENS)
    return [_entry(method, a, parse_verbal(t), t) for a, t in zip(answers, replies)]


def answer_confidence(method: str, model: Generator, requests: Sequence[Request],
                      answers: Sequence[str], scored: bool, final: bool
                      ) -> list[dict[str, Any]] | None:
    """Entries to journal with a batch just answered, or None where there is nothing to
    ask now: labels picked by score (their probability comes from the scores), answers
    that calibration may still change (asked at the end), or a model that cannot tell."""
    if method == "none" or unavailable(method, model) or not final:
        return None
    if method in ("prob", "agreement") and scored:
        return None
    return ask(method, model, requests, answers)


def run_confidence(method: str, model: Generator, task: TaskSpec, journal: Journal,
                   questions: Sequence[Question], predictions: Mapping[str, str],
                   matrix: Any = None, batch_size: int = 8) -> Measured:
    """The confidence of every final prediction of a run.

    `matrix` is the (questions, labels) score matrix the labels were picked from, when
    calibration built one; otherwise the journal's raw ``label_scores`` are used, if any.
    Answers whose journal entry is missing or about another answer are asked now (in
    batches, appended to the journal, so an interruption loses at most a batch).
    """
    note = unavailable(method, model) if method != "none" else None
    if method == "none" or note:
        return Measured(method, {}, note=note)
    done = journal.read()
    if method == "agreement":
        return _agreement(task, questions, predictions, done, matrix)
    if method == "prob" and (matrix is not None or all("label_scores" in done[q.id]
                                                       for q in questions)):
        if not questions:
            return Measured(method, {})
        rows = matrix if matrix is not None else [done[q.id]["label_scores"] for q in questions]
        return Measured(method, dict(zip([q.id for q in questions], label_confidence(rows))))
    todo = [q for q in questions if not _current(done[q.id].get(FIELD), method, predictions[q.id])]
    for start in range(0, len(todo), batch_size):
        batch = todo[start:start + batch_size]
        requests = [stored_request(done[q.id], q, task) for q in batch]
        entries = ask(method, model, requests, [predictions[q.id] for q in batch])
        journal.append([{**done[q.id], FIELD: e} for q, e in zip(batch, entries)])
    if todo:
        done = journal.read()
    values = {q.id: done[q.id][FIELD]["value"] for q in questions}
    return Measured(method, {k: float(v) for k, v in values.items() if v is not None},
                    unparsed=sum(v is None for v in values.values()))


def _current(entry: Any, method: str, answer: str) -> bool:
    return isinstance(entry, dict) and entry.get("method") == method \
        and entry.get("answer") == answer


def _agreement(task: TaskSpec, questions: Sequence[Question], predictions: Mapping[str, str],
               done: Mapping[str, Any], matrix: Any) -> Measured:
    """The agreement confidence of every prediction (see the module docstring)."""
    if not task.labels or not all("label_scores" in done[q.id] for q in questions):
        return Measured("agreement", {}, note="agreement needs labels picked by likelihood "
                        "(a label or rating task, a model that scores them)")
    if not questions:
        return Measured("agreement", {})
    rows = np.asarray(matrix if matrix is not None
                      else [done[q.id]["label_scores"] for q in questions], dtype=np.float64)
    probs = np.sort(softmax(rows, axis=1), axis=1)
    llm_margin = probs[:, -1] - (probs[:, -2] if probs.shape[1] > 1 else 0.0)
    votes, vote_margin = vote_answers(task, questions)
    m_llm, m_vote = _percentiles(llm_margin), _percentiles(np.asarray(vote_margin))
    values = {}
    for i, q in enumerate(questions):
        agree = votes[i] == predictions[q.id]
        values[q.id] = float(0.5 + (m_llm[i] + m_vote[i]) / 4 if agree
                             else (1 + m_llm[i] - m_vote[i]) / 4)
    return Measured("agreement", values)


def vote_answers(task: TaskSpec, questions: Sequence[Question]) -> tuple[list[str], list[float]]:
    """The no-LLM vote's answer and margin per question (`baselines.votes.vote_for`)."""
    vote, requests = vote_evidence(task, questions)
    answers = vote.generate(requests, 1)
    return answers, vote.margins[-len(requests):]


def _percentiles(x: np.ndarray) -> np.ndarray:
    """Each value's mid-rank percentile in [0, 1] (ties share their rank)."""
    if len(x) < 2:
        return np.full(len(x), 0.5)
    return (rankdata(x) - 1) / (len(x) - 1)
