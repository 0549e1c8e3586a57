"""Where a question's profile comes from: the user, a persona, or everyone.

Research note 003: personalization works at three levels. The *user* level is the
user's own history; a *persona* pools the histories of the users most like this one;
*global* pools everyone's. Users with little or no history need the coarser levels, so
``auto`` takes the user level when the profile has at least `min_profile` items, else a
persona (placed by the few items the user has, or by the input), else global.

- A user's vector is the mean embedding of the outputs in their profile (the dense
  encoder by default). ``persona_select="user"`` pools the `persona_k` users nearest to
  the user's vector; ``"input"`` those nearest to the current input (note 001: a persona
  conditioned on the candidate beats one fixed taste). With `personas` set, users are
  first grouped by k-means and the nearest cluster is the persona.
- No leakage: persona and global levels read only other users' *profile* items, never a
  question's gold output; where items have dates, only items dated on or before the
  newest item of this question's own profile (which precedes the question's date), and
  none at all when the user has no dated item to bound them.
- `profile_cap` keeps each user's N most recent items (N = 0: a cold-start user), for
  cold-start studies; the cap applies to the user's own profile before the level is
  chosen, so `auto` falls back exactly as it would for a user that new.

Pooled items get ids ``USER/ITEM`` (ids are only unique within one user) and positions
re-numbered in their new list, so every retriever ranks them as an ordinary profile.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from ..data.records import ProfileItem, Question
from ..errors import ConfigError, bad_choice
from ..retrievers.recency import newest_first
from ..tasks import TaskSpec

LEVELS = ("user", "persona", "global", "auto")
PERSONA_SELECT = ("user", "input")
Embed = Callable[[Sequence[str]], np.ndarray]


@dataclass(frozen=True)
class LevelOptions:
    """How a question's profile is formed (all of it decides the answer)."""

    level: str = "user"
    persona_k: int = 10
    personas: int | None = None
    persona_select: str = "user"
    min_profile: int = 4
    profile_cap: int | None = None

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise bad_choice("level", self.level, LEVELS)
        if self.persona_select not in PERSONA_SELECT:
            raise bad_choice("persona_select", self.persona_select, PERSONA_SELECT)
        for name in ("persona_k", "min_profile"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{{option}} must be >= 1, got {getattr(self, name)}",
                                  option=name)
        if self.personas is not None and self.personas < 1:
            raise ConfigError(f"{{option}} must be >= 1, got {self.personas}", option="personas")
        if self.profile_cap is not None and self.profile_cap < 0:
            raise ConfigError(f"{{option}} must be >= 0, got {self.profile_cap}",
                              option="profile_cap")

    @property
    def pools(self) -> bool:
        """Whether other users' items can be used (the population must be built)."""
        return self.level != "user"


def cap(profile: Sequence[ProfileItem], n: int | None) -> tuple[ProfileItem, ...]:
    """The `n` most recent items (all when n is None), in their original order."""
    if n is None or n >= len(profile):
        return tuple(profile)
    keep = {id(item) for item in newest_first(profile)[:n]}
    return _renumbered([item for item in profile if id(item) in keep])


def _renumbered(items: Sequence[ProfileItem]) -> tuple[ProfileItem, ...]:
    return tuple(item if item.position == i else replace(item, position=i)
                 for i, item in enumerate(items))


def user_key(q: Question) -> str:
    """The population's name of a question's user (the question itself when it has none)."""
    return q.user_id if q.user_id is not None else f"question:{q.id}"


class Population:
    """Every user of a split with the union of their profile items, and their vectors."""

    def __init__(self, questions: Sequence[Question], task: TaskSpec, embed: Embed | None = None
                 ) -> None:
        self.task = task
        self.users: dict[str, dict[str, ProfileItem]] = {}
        for q in questions:
            known = self.users.setdefault(user_key(q), {})
            for item in q.profile:
                known.setdefault(item.id, item)
        self.names = sorted(self.users)
        # Whether any item carries a date: then pooled items need a date to be bounded by.
        self.dated = any(i.date for items in self.users.values() for i in items.values())
        self._embed = embed
        self._vectors: np.ndarray | None = None
        self._clusters: np.ndarray | None = None

    def items(self) -> list[ProfileItem]:
        """Every distinct profile item of the split (each user's union, all users)."""
        return [item for name in self.names for item in self.users[name].values()]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if self._embed is None:
            from ..retrievers.encoder import Encoder  # torch: only when a persona is asked for
            encoder = Encoder.load()
            self._embed = lambda t: encoder.encode(t)
        vectors = np.asarray(self._embed(list(texts)), dtype=np.float64)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms > 0, norms, 1.0)

    def vectors(self) -> np.ndarray:
        """(users, dim) unit vectors: the mean of each user's output embeddings."""
        if self._vectors is None:
            rows = []
            for name in self.names:
                outputs = [self.task.output_of(i) for i in self.users[name].values()]
                rows.append(self.user_vector([o for o in outputs if o]))
            self._vectors = np.vstack(rows) if rows else np.zeros((0, 1))
        return self._vectors

    def user_vector(self, outputs: Sequence[str]) -> np.ndarray:
        if not outputs:
            return np.zeros(self.embed(["x"]).shape[1])
        mean = self.embed(outputs).mean(axis=0)
        norm = np.linalg.norm(mean)
        return mean / norm if norm > 0 else mean

    def clusters(self, n: int, seed: int = 0) -> np.ndarray:
        """The k-means cluster of every user (seeded, so runs repeat)."""
        if self._clusters is None:
            from scipy.cluster.vq import kmeans2
            vectors = self.vectors()
            k = max(1, min(n, len(vectors)))
            _, labels = kmeans2(vectors, k, minit="++", seed=seed)
            self._clusters = np.asarray(labels)
        return self._clusters

    def pooled(self, users: Sequence[str], cutoff: str | None) -> tuple[ProfileItem, ...]:
        """The items of `users` dated on or before `cutoff` (undated items: never, when a
        cutoff exists; all, when none does), with ids prefixed by their user."""
        items = []
        for name in users:
            for item in self.users[name].values():
                if cutoff is not None and not (item.date and item.date <= cutoff):
                    continue
                items.append(replace(item, id=f"{name}/{item.id}"))
        return _renumbered(items)


def date_cutoff(profile: Sequence[ProfileItem]) -> str | None:
    """The newest date of a profile: other users' items must be no later (None: undated)."""
    dates = [item.date for item in profile if item.date]
    return max(dates) if dates else None


class ProfileSource:
    """Forms each question's profile at the chosen level (see the module docstring)."""

    def __init__(self, options: LevelOptions, task: TaskSpec,
                 population: Population | None = None) -> None:
        if options.pools and population is None:
            raise ConfigError(f"level {options.level} needs the population of users")
        self.options, self.task, self.population = options, task, population
        self.used: dict[str, str] = {}  # question id -> the level its profile came from

    def __call__(self, q: Question) -> Question:
        own = cap(q.profile, self.options.profile_cap)
        level = self._level(own)
        self.used[q.id] = level
        if level == "user":
            return replace(q, profile=own)
        assert self.population is not None
        others = [u for u in self.population.names if u != user_key(q)]
        # The cutoff comes from the whole true profile: a capped user is still dated.
        cutoff = date_cutoff(q.profile)
        if cutoff is None and self.population.dated:
            return replace(q, profile=())  # nothing can be shown without a date to bound it
        users = others if level == "global" else self._persona(q, own, others)
        return replace(q, profile=self.population.pooled(users, cutoff))

    def _level(self, own: Sequence[ProfileItem]) -> str:
        level = self.options.level
        if level != "auto":
            return level
        if len(own) >= self.options.min_profile:
            return "user"
        if own or self.options.persona_select == "input":
            return "persona"
        return "global"

    def _persona(self, q: Question, own: Sequence[ProfileItem], others: Sequence[str]
                 ) -> list[str]:
        population = self.population
        assert population is not None
        if not others:
            return []
        outputs = [o for o in map(self.task.output_of, own) if o]
        if self.options.persona_select == "input" or not outputs:  # no items: place by input
            anchor = population.embed([self.task.query(q.input)])[0]
        else:
            anchor = population.user_vector(outputs)
        index = {name: i for i, name in enumerate(population.names)}
        vectors = population.vectors()
        rows = np.array([index[u] for u in others])
        if self.options.personas:
            clusters = population.clusters(self.options.personas)
            centroids = {c: vectors[clusters == c].mean(axis=0) for c in set(clusters[rows])}
            best = max(centroids, key=lambda c: (float(centroids[c] @ anchor), -c))
            return [u for u, r in zip(others, rows) if clusters[r] == best]
        similarity = vectors[rows] @ anchor
        order = sorted(range(len(others)), key=lambda i: (-similarity[i], others[i]))
        return [others[i] for i in order[:self.options.persona_k]]


def profiles_at_level(questions: Sequence[Question], task: TaskSpec, options: LevelOptions,
                      embed: Embed | None = None) -> list[Question]:
    """The questions with their profiles formed at `options.level` (unchanged for the
    user level without a cap)."""
    if options == LevelOptions():
        return list(questions)
    population = Population(questions, task, embed) if options.pools else None
    source = ProfileSource(options, task, population)
    return [source(q) for q in questions]
