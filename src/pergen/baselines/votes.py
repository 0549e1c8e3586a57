"""Vote baselines: answer a choice or label task from the user's profile alone, no LLM.

A personalization result means little until it is set against the strongest method that
needs no LLM. Both models answer through the `Generator` interface, ranking the user's
profile (``Request.profile``) with the run's own retriever (``Request.retriever``):

- ``similarity-vote[:K]`` for tasks whose input offers candidates (LaMP-1, the tweet
  authorship task: a ``candidates_regex`` in the task spec). Each candidate is a query
  against the profile; its score is the mean of its top K retrieval scores (fewer when the
  profile is smaller, 0 when the ranking is empty), and the label of the best candidate
  (candidate i -> ``labels[i]``) is the answer. Equal best scores are a tie: the first
  candidate wins and the tie is counted in ``ties``. With the `none` retriever (an empty
  ranking) or no retriever, every question is a tie, so the model answers ``labels[0]``.
- ``knn-vote[:K]`` for label and rating tasks (LaMP-2, LaMP-3): the outputs of the K items
  ranked highest for the task's query vote, weighted by their retrieval score minus the
  lowest score of the user's whole ranked profile (weights are then >= 0, on the
  retriever's own scale, and the least similar item of the profile counts for nothing).
  Label tasks take the label with the largest total weight; rating tasks (scored by MAE or
  RMSE) take the weighted mean rating, rounded half up to the nearest label. When no item
  is retrieved or the weights sum to 0 (all scores equal), the answer is the user's prior:
  the most frequent label, or the mean rating rounded, of the whole profile.

Profile documents are indexed without dates (``task.document(item)``).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any

from ..data.records import ProfileItem, Question, Scored
from ..errors import ConfigError
from ..llm.base import MODELS, BaseGenerator, Request, Tokenizer, WhitespaceTokenizer
from ..retrievers import RankRequest, Retriever, get_retriever, rank_many
from ..tasks import TaskSpec

DEFAULT_VOTE_K = 4
RATING_METRICS = frozenset({"mae", "rmse"})


def _vote_k(name: str, arg: str, vote_k: int) -> int:
    """K from ``name:K`` (wins over the keyword) or the ``vote_k`` keyword; must be >= 1."""
    k: Any = arg or vote_k
    try:
        k = int(k)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} takes a whole number of items to vote, {name}:K "
                          f"(got {name}:{arg})") from None
    if k < 1:
        raise ConfigError(f"{name}: the number of voting items must be at least 1, got {k}")
    return k


def _check_all(model: Any, requests: Sequence[Request]) -> None:
    for task in {id(r.task): r.task for r in requests}.values():
        model.check_task(task)


def _docs(request: Request) -> list[str]:
    return [request.task.document(item) for item in request.profile]


class SimilarityVote(BaseGenerator):
    """Pick the candidate most similar to the user's profile (mean of its top K scores)."""

    def __init__(self, vote_k: int = DEFAULT_VOTE_K) -> None:
        self.vote_k = vote_k
        # The K is in the name so that a run resumed with another K is refused.
        self.name = f"similarity-vote:{vote_k}"
        self.tokenizer: Tokenizer = WhitespaceTokenizer()
        self.questions = 0  # questions answered by this instance
        self.ties = 0  # of which the best score was shared: answered with the first candidate
        self.margins: list[float] = []  # best minus second-best score, per question

    def check_task(self, task: TaskSpec) -> None:
        """Refuse a task whose inputs hold no candidates: there is nothing to vote on."""
        if not task.candidates_regex:
            raise ConfigError(f"similarity-vote needs a task whose input holds candidates (a "
                              f"candidates_regex in the task spec, as LaMP_1 and "
                              f"tweet_authorship have); task {task.name} has none")

    def candidate_scores(self, requests: Sequence[Request]) -> list[list[float]]:
        """Per request, each candidate's score (0 for all without a retriever)."""
        _check_all(self, requests)
        cands = [r.task.candidates(r.input) for r in requests]
        asks = [(r.retriever, RankRequest(text, r.profile, docs))
                for r, c in zip(requests, cands) if r.retriever is not None
                for docs in (_docs(r),) for text in c]
        ranked = iter(_rank_grouped(asks))
        return [[_mean_top(next(ranked), self.vote_k) if r.retriever is not None else 0.0
                 for _ in c] for r, c in zip(requests, cands)]

    def generate(self, requests: Sequence[Request], max_new_tokens: int) -> list[str]:
        answers = []
        for r, scores in zip(requests, self.candidate_scores(requests)):
            labels = r.task.labels or ()
            scores = scores[:len(labels)]  # a candidate without a label cannot be answered
            self.questions += 1
            if not scores:  # no candidate found in the input: nothing beats the first label
                self.ties += 1
                self.margins.append(0.0)
                answers.append(labels[0])
                continue
            best = max(range(len(scores)), key=lambda i: (scores[i], -i))  # first on ties
            others = [s for i, s in enumerate(scores) if i != best]
            second = max(others) if others else scores[best]
            if scores[best] == second:
                self.ties += 1
            self.margins.append(scores[best] - second)
            answers.append(labels[best])
        return answers


def _rank_grouped(asks: Sequence[tuple[Retriever | None, RankRequest]]
                  ) -> list[Sequence[Scored]]:
    """Rankings in the order asked, with one `rank_many` call per retriever, so that a
    dense retriever encodes all new texts of the batch together (a pipeline batch shares
    one retriever; requests built by hand may not)."""
    groups: dict[int, list[int]] = {}
    for i, (retriever, _) in enumerate(asks):
        groups.setdefault(id(retriever), []).append(i)
    out: list[Sequence[Scored]] = [[] for _ in asks]
    for positions in groups.values():
        retriever = asks[positions[0]][0]
        assert retriever is not None
        for i, ranking in zip(positions, rank_many(retriever, [asks[i][1] for i in positions])):
            out[i] = ranking
    return out


def _mean_top(ranking: Sequence[Scored], k: int) -> float:
    top = ranking[:k]
    return sum(s.score for s in top) / len(top) if top else 0.0


class KnnVote(BaseGenerator):
    """The score-weighted vote of the labels (or ratings) of the top K retrieved items."""

    def __init__(self, vote_k: int = DEFAULT_VOTE_K) -> None:
        self.vote_k = vote_k
        self.name = f"knn-vote:{vote_k}"
        self.tokenizer: Tokenizer = WhitespaceTokenizer()
        self.questions = 0
        self.priors = 0  # questions answered with the user's prior (no usable vote)
        self.margins: list[float] = []  # winning share of the weight minus the runner-up's

    def check_task(self, task: TaskSpec) -> None:
        """Refuse tasks whose answers are not labels the user gave to profile items."""
        check_labelled(task, "knn-vote")
        labels = list(task.labels or ())
        if RATING_METRICS & set(task.metrics) and any(_number(lab) is None for lab in labels):
            raise ConfigError(f"knn-vote: task {task.name} is scored as a rating (MAE/RMSE) "
                              f"but its labels {labels} are not all numbers")

    def generate(self, requests: Sequence[Request], max_new_tokens: int) -> list[str]:
        _check_all(self, requests)
        asks = [(r.retriever, RankRequest(r.task.query(r.input), r.profile, _docs(r)))
                for r in requests if r.retriever is not None]
        ranked = iter(_rank_grouped(asks))
        return [self._answer(r, next(ranked) if r.retriever is not None else [])
                for r in requests]

    def label_shares(self, requests: Sequence[Request]) -> list[list[float]]:
        """Per request, each label's share of the top K items' score weight (the vote's
        evidence before it picks: 0 for all where nothing votes)."""
        _check_all(self, requests)
        asks = [(r.retriever, RankRequest(r.task.query(r.input), r.profile, _docs(r)))
                for r in requests]
        out = []
        for r, ranking in zip(requests, _rank_grouped(asks)):
            labels = list(r.task.labels or ())
            lowest = min((s.score for s in ranking), default=0.0)
            totals = dict.fromkeys(labels, 0.0)
            for s in ranking[:self.vote_k]:
                label = r.task.output_of(s.item).strip()
                if label in totals:
                    totals[label] += s.score - lowest
            mass = sum(totals.values())
            out.append([totals[lab] / mass if mass > 0 else 0.0 for lab in labels])
        return out

    def _answer(self, request: Request, ranking: Sequence[Scored]) -> str:
        task = request.task
        self.questions += 1
        rating = bool(RATING_METRICS & set(task.metrics))
        lowest = min((s.score for s in ranking), default=0.0)
        votes = [(task.output_of(s.item).strip(), s.score - lowest)
                 for s in ranking[:self.vote_k]]
        answer, margin = (weighted_rating(votes, task) if rating
                          else weighted_label(votes, task, request.profile))
        if answer is None:
            self.priors += 1
            answer, margin = prior(task, request.profile), 0.0
        self.margins.append(margin)
        return answer


def check_labelled(task: TaskSpec, what: str) -> None:
    """Refuse a task whose profile items do not carry its labels (`what` needs them)."""
    if not task.labels:
        raise ConfigError(f"{what} needs a task with labels or ratings (LaMP_2, LaMP_3); "
                          f"task {task.name} is a generation task: use knn or copy-input")
    if task.candidates_regex:
        raise ConfigError(f"{what} does not apply to task {task.name}: its labels "
                          f"{list(task.labels)} name candidates of the input, not answers the "
                          "user gave to profile items (similarity-vote answers such tasks)")


def _labels_of(task: TaskSpec, items: Iterable[ProfileItem]) -> list[str]:
    return [task.output_of(item).strip() for item in items]


def weighted_label(votes: Sequence[tuple[str, float]], task: TaskSpec,
                   profile: Sequence[ProfileItem]) -> tuple[str | None, float]:
    """The label with the largest total weight and its margin (share of the total weight
    minus the runner-up's share); None when no weight goes to a known label.

    Equal totals go to the label the user gave more often in the whole profile, then to
    the first in the task's label order. Outputs outside the label set are ignored: they
    could never be scored right.
    """
    labels = tuple(task.labels or ())
    totals = dict.fromkeys(labels, 0.0)
    for label, weight in votes:
        if label in totals:
            totals[label] += weight
    mass = sum(totals.values())
    if mass <= 0:
        return None, 0.0
    counts = _counts(_labels_of(task, profile), labels)
    order = sorted(labels, key=lambda lab: (-totals[lab], -counts[lab], labels.index(lab)))
    runner_up = totals[order[1]] if len(order) > 1 else 0.0
    return order[0], (totals[order[0]] - runner_up) / mass


def weighted_rating(votes: Sequence[tuple[str, float]], task: TaskSpec
                    ) -> tuple[str | None, float]:
    """The weighted mean rating rounded half up to the nearest label, and its margin (the
    distance of the mean from the rounding boundary, 0 to .5); None without weight."""
    pairs = [(v, w) for v, w in ((_number(lab), w) for lab, w in votes) if v is not None]
    mass = sum(w for _, w in pairs)
    if mass <= 0:
        return None, 0.0
    mean = sum(v * w for v, w in pairs) / mass
    label = _nearest(mean, task)
    return label, abs(0.5 - abs(mean - float(label)))


def prior(task: TaskSpec, profile: Sequence[ProfileItem]) -> str:
    """The user's prior: the most frequent label of the profile (first in label order on
    ties) or, for a rating task, the mean rating rounded. An empty or unlabelled profile
    gives the first label, or the middle of the rating scale."""
    labels = tuple(task.labels or ())
    outputs = _labels_of(task, profile)
    if RATING_METRICS & set(task.metrics):
        values = [v for v in map(_number, outputs) if v is not None]
        scale = [v for v in map(_number, labels) if v is not None]
        if values:
            return _nearest(sum(values) / len(values), task)
        return _nearest((min(scale) + max(scale)) / 2, task) if scale else labels[0]
    counts = _counts(outputs, labels)
    return max(labels, key=lambda lab: (counts[lab], -labels.index(lab)))


def _counts(outputs: Iterable[str], labels: Sequence[str]) -> dict[str, int]:
    counts = dict.fromkeys(labels, 0)
    for out in outputs:
        if out in counts:
            counts[out] += 1
    return counts


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _nearest(value: float, task: TaskSpec) -> str:
    """The numeric label nearest to `value`; halfway goes up (3.5 -> "4"), unlike round()."""
    scale = [(v, lab) for lab in task.labels or () if (v := _number(lab)) is not None]
    return min(scale, key=lambda p: (abs(p[0] - value), -p[0]))[1]


@MODELS.register("similarity-vote", llm=False, vote=True, reference="dense-cos",
                 reference_kinds=("choice",))
def similarity_vote(arg: str = "", *, vote_k: int = DEFAULT_VOTE_K, **options: Any
                    ) -> SimilarityVote:
    # Options meant for real models (batch_size...) are ignored so one call fits all.
    return SimilarityVote(_vote_k("similarity-vote", arg, vote_k))


@MODELS.register("knn-vote", llm=False, vote=True, reference="bm25",
                 reference_kinds=("label", "rating"))
def knn_vote(arg: str = "", *, vote_k: int = DEFAULT_VOTE_K, **options: Any) -> KnnVote:
    return KnnVote(_vote_k("knn-vote", arg, vote_k))


@functools.cache
def vote_for(kind: str) -> tuple[SimilarityVote | KnnVote, Retriever]:
    """The registered vote that is a reference for this kind of task (`TaskSpec.kind`), and
    its reference retriever, built once per process: the fused label mode and the agreement
    confidence both read it, and a dense encoder loads in seconds."""
    for name in MODELS.names():
        facts = MODELS.facts(name)
        if facts.vote and facts.reference and kind in facts.reference_kinds:
            vote = MODELS.create(name)
            assert isinstance(vote, SimilarityVote | KnnVote)
            return vote, get_retriever(facts.reference)
    raise ConfigError(f"no registered vote applies to {kind} tasks")


def vote_evidence(task: TaskSpec, questions: Sequence[Question]
                  ) -> tuple[SimilarityVote | KnnVote, list[Request]]:
    """The task's vote and its requests for these questions (each with the profile)."""
    vote, retriever = vote_for(task.kind)
    return vote, [Request(prompt="", input=q.input, retrieved=(), task=task, profile=q.profile,
                          retriever=retriever) for q in questions]
