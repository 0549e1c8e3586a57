"""The near-miss swap study: answer each question with another user's profile.

Research note 001 reports PRIME's U-shaped error curve: replacing a user's profile with
the *most similar* other user's profile hurts more than a random one, because the model
applies near-right preferences with confidence. `swap_study` puts that to the test on any
data set, model and method. For every question it swaps in the profile of one other user
chosen by similarity rank to the real user, under these conditions:

- ``own``: the user's own profile (the reference every drop is measured against);
- ``most``: the most similar other user; ``least``: the least similar one;
- ``bin-01`` .. ``bin-NN``: a user drawn from each similarity bin (deciles by default;
  bin 1 is the most similar tenth of the candidates);
- ``random``: a user drawn uniformly from all candidates.

Each condition is an ordinary, resumable `evaluate` run folder ``OUT/<condition>/`` with
the same settings (retriever, model, k, label mode...), so answers are redone nowhere.
The chosen partners are stored in ``OUT/partners.json`` (a resumed study reuses them
without embedding anything); `pergen.reports.swap` writes ``swap.json``, ``swap.md`` and
``swap.png``: each condition's drop in the task metric and in gold-loglik, with bootstrap
95% intervals and paired p-values, and the answers' confidence where a run records it.

How partners are chosen (deterministic for a `seed`, whatever `limit` or order):

- User vectors are the levels feature's (`pergen.memory.levels.Population`): the mean embedding
  of a user's profile outputs with the dense encoder. The real user is placed by the
  outputs of *this question's* profile, not by the union of their profiles: a later
  question's profile can hold this question's gold output (HuffPost does). A partner is
  placed by all of their items, as in the levels feature: that only ranks them; what is
  shown is bounded by date (below).
- Candidates are the other users (never the user itself) with at least one item that may
  be shown; they are ranked by cosine similarity (ties by name), and each condition picks
  a rank: 0, n - 1, uniform in its bin, or uniform overall, from a random stream keyed
  by (seed, condition, question id).
- No leakage: the swapped-in profile holds only the partner's *profile* items; where
  items have dates, only those dated on or before the newest item of the question's own
  profile (which precedes the question), as the persona level does, and none at all
  when the question's profile has no date to bound them. Items whose output equals the
  question's gold output (for generation tasks the gold itself, for choice tasks the
  candidate the gold label names) are dropped too: a copied headline or a retweet would
  otherwise hand the answer over; the count is reported.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ..data.records import ProfileItem, Question
from ..data.splits import load_split
from ..errors import ConfigError, MissingExtraError
from ..memory.levels import Embed, Population, date_cutoff, user_key
from ..reports.swap import write_study
from ..run.config import RunConfig
from ..run.folder import RetrieverRun
from ..run.pipeline import evaluate
from ..run.prepare import prepare_run
from ..run.settings import check_retrievers
from ..run.storage import atomic_write_bytes, atomic_write_json, cache_dir
from ..tasks import TaskSpec
from .swapconditions import LEAST, MOST, OWN, RANDOM, bin_name

PARTNERS = "partners.json"
EMBEDDINGS = "swap-embeddings"
NOT_SWAP_OPTIONS = ("level", "persona_k", "personas", "persona_select", "min_profile",
                    "profile_cap", "reprofile", "baseline", "embed", "abstain_below",
                    "coverage", "fallback")
"""evaluate's options that the study sets itself, or that would undo the swap (levels, a
fallback that answers from other profiles)."""


def conditions(bins: int) -> list[str]:
    """Every condition of a study with `bins` similarity bins, ``own`` first."""
    return [OWN, MOST, *(bin_name(b) for b in range(1, bins + 1)), RANDOM, LEAST]


@dataclass(frozen=True)
class Partner:
    """The user whose profile replaced a question's, and where they ranked.

    `rank` is 0-based among `candidates` (0: the most similar); `user` is None, `rank` -1,
    when no other user has an item that may be shown. `items` counts the profile items
    swapped in, `dropped` the partner's items left out for equalling the gold output.
    """

    user: str | None
    rank: int
    candidates: int
    similarity: float
    items: int = 0
    dropped: int = 0


def _stream(seed: int, condition: str, qid: str) -> np.random.Generator:
    """A random stream of its own per (seed, condition, question): a partner never
    depends on which other questions run, or in what order."""
    digest = hashlib.sha256(f"{seed}\0{condition}\0{qid}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "big"))


def pick_rank(condition: str, n: int, bins: int, rng: np.random.Generator) -> int:
    """The rank (0 = most similar) a condition takes among `n` candidates. Bin b covers
    ranks [(b-1)n/B, bn/B); with fewer candidates than bins, a bin takes the rank at
    its lower edge, so every bin has a partner."""
    if condition == MOST:
        return 0
    if condition == LEAST:
        return n - 1
    if condition == RANDOM:
        return int(rng.integers(n))
    b = int(condition.removeprefix("bin-"))
    lo = (b - 1) * n // bins
    return int(rng.integers(lo, max(lo + 1, b * n // bins)))


def _normal(text: str) -> str:
    return " ".join(text.split()).casefold()


def gold_text(task: TaskSpec, q: Question, gold: str) -> str | None:
    """What of the question's gold a profile item could hold verbatim: the gold output
    (generation), the candidate its label names (choice tasks), nothing (plain labels:
    sharing a label is the signal, not a leak)."""
    if task.candidates_regex:
        labels = [label.strip() for label in task.labels or ()]
        shown = task.candidates(q.input)
        i = labels.index(gold.strip()) if gold.strip() in labels else -1
        return shown[i] if 0 <= i < len(shown) else None
    return None if task.labels else gold


class Swapper:
    """Chooses each question's partners and forms the swapped-in profiles."""

    def __init__(self, population: Population, task: TaskSpec, bins: int, seed: int,
                 golds: Mapping[str, str] | None = None) -> None:
        self.population, self.task, self.bins, self.seed = population, task, bins, seed
        self.golds = golds or {}
        self._earliest: dict[str, str | None] = {}
        for name in population.names:
            dates = [i.date for i in population.users[name].values() if i.date]
            self._earliest[name] = min(dates) if dates else None

    def _showable(self, name: str, cutoff: str | None) -> bool:
        if cutoff is None:
            return bool(self.population.users[name])
        earliest = self._earliest[name]
        return earliest is not None and earliest <= cutoff

    def ranked(self, q: Question) -> tuple[list[str], np.ndarray]:
        """The candidates of a question, most similar first, and their similarities."""
        population = self.population
        cutoff = date_cutoff(q.profile)
        if cutoff is None and population.dated:
            return [], np.zeros(0)  # nothing can be shown without a date to bound it
        me = user_key(q)
        names = [u for u in population.names if u != me and self._showable(u, cutoff)]
        if not names:
            return [], np.zeros(0)
        anchor = population.user_vector([o for o in map(self.task.output_of, q.profile) if o])
        index = {name: i for i, name in enumerate(population.names)}
        similarity = population.vectors()[[index[u] for u in names]] @ anchor
        order = sorted(range(len(names)), key=lambda i: (-similarity[i], names[i]))
        return [names[i] for i in order], similarity[order]

    def partners(self, q: Question, wanted: Sequence[str]) -> dict[str, Partner]:
        """The partner of `q` under each wanted condition (``own`` excluded)."""
        names, similarity = self.ranked(q)
        out = {}
        for condition in wanted:
            if not names:
                out[condition] = Partner(None, -1, 0, 0.0)
                continue
            rank = pick_rank(condition, len(names), self.bins, _stream(self.seed, condition, q.id))
            items, dropped = self._items(q, names[rank])
            out[condition] = Partner(names[rank], rank, len(names), float(similarity[rank]),
                                     len(items), dropped)
        return out

    def profile(self, q: Question, partner: Partner) -> tuple[ProfileItem, ...]:
        """The partner's items that may be shown for `q` (none without a partner)."""
        return self._items(q, partner.user)[0] if partner.user is not None else ()

    def _items(self, q: Question, user: str) -> tuple[tuple[ProfileItem, ...], int]:
        if user == user_key(q):  # never: candidates exclude the user; a guard all the same
            raise ConfigError(f"swap study: question {q.id} would be swapped with its own user")
        pooled = self.population.pooled([user], date_cutoff(q.profile))
        gold = self.golds.get(q.id)
        leak = gold_text(self.task, q, gold) if gold is not None else None
        kept = [i for i in pooled if not leak or _normal(self.task.output_of(i)) != _normal(leak)]
        return (tuple(replace(item, position=i) for i, item in enumerate(kept)),
                len(pooled) - len(kept))


class _Embeddings:
    """`embed` (default: the dense encoder, loaded on first use) with a per-text memo, so
    each question's own items, embedded again to place the user, cost nothing. With the
    default encoder the memo of a whole population is also kept on disk
    (`EMBEDDINGS` under pergen's cache, keyed by the encoder and every text): placing
    the 240 users of the tweets split takes an hour on two busy cores, once."""

    def __init__(self, embed: Embed | None) -> None:
        self.memo: dict[str, np.ndarray] = {}
        self.embed = embed

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        new = [t for t in dict.fromkeys(texts) if t not in self.memo]
        if new:
            if self.embed is None:
                from ..retrievers.encoder import Encoder  # torch: only when users are placed
                self.embed = Encoder.load().encode
            self.memo.update(zip(new, np.asarray(self.embed(new), dtype=np.float64)))
        return np.vstack([self.memo[t] for t in texts])

    def place(self, groups: Sequence[Sequence[str]], progress: bool) -> None:
        """Embed every group of texts (a user's outputs), from the disk cache if it has
        them all, with a progress bar otherwise."""
        store = self._store(groups)
        if store is not None and store.exists():
            with np.load(store) as saved:
                self.memo.update(zip(saved["texts"].tolist(), saved["vectors"]))
        for texts in tqdm(groups, disable=not progress, desc="placing users", unit="user"):
            if texts:
                self(texts)
        if store is not None and not store.exists():
            texts = sorted({t for g in groups for t in g})
            buf = io.BytesIO()
            np.savez(buf, texts=np.array(texts, dtype=str),
                     vectors=np.vstack([self.memo[t] for t in texts]).astype(np.float32))
            atomic_write_bytes(store, buf.getvalue())

    def _store(self, groups: Sequence[Sequence[str]]) -> Path | None:
        if self.embed is not None:  # a caller's own function: nothing to key it by
            return None
        from ..retrievers.encoder import default_model_path
        try:
            digest = hashlib.sha256(default_model_path().name.encode())
        except MissingExtraError:  # loading the encoder will say what to install
            return None
        for text in sorted({t for g in groups for t in g}):
            digest.update(b"\0" + text.encode("utf-8", "surrogatepass"))
        return cache_dir() / EMBEDDINGS / f"{digest.hexdigest()[:32]}.npz"


@dataclass
class SwapStudy:
    """The runs of a study by condition, the partners, and the summary `pergen.reports.swap` wrote."""

    runs: dict[str, RetrieverRun]
    partners: dict[str, dict[str, Partner]]
    summary: dict[str, Any] = field(default_factory=dict)


def _check_options(options: Mapping[str, Any]) -> None:
    """Refuse the run options the study sets itself, or that would undo the swap."""
    for name in options:
        if name in NOT_SWAP_OPTIONS:
            raise ConfigError("{option} does not apply to the swap study: it replaces the "
                              "user's own profile with another user's", option=name)


def _stored_partners(out: Path, key: dict[str, Any]) -> dict[str, dict[str, Partner]]:
    """Partners of an earlier run of this study; another seed, bins or data is refused."""
    path = out / PARTNERS
    if not path.exists():
        return {}
    stored = json.loads(path.read_text(encoding="utf-8"))
    old = stored.get("key", {})
    for name in ("seed", "bins", "data_dir", "split"):
        if old.get(name) != key[name]:
            raise ConfigError(f"{out} holds a swap study with {name} {old.get(name)!r}, not "
                              f"{key[name]!r}: use another output folder or delete it",
                              option=name)
    return {c: {qid: Partner(**p) for qid, p in by_q.items()}
            for c, by_q in stored.get("partners", {}).items()}


def swap_study(data_dir: str | Path, split: str, retriever: str, out_dir: str | Path,
               task: str | TaskSpec | None = None, limit: int | None = None, seed: int = 0,
               bins: int = 10, progress: bool = True, embed: Embed | None = None,
               config: RunConfig | None = None, **options: Any) -> SwapStudy:
    """Run the swap study (see the module docstring) and write its table and chart.

    `config` and the flat `options` (k, label_mode, model...: `RunConfig`'s) are the same
    for every condition. `embed` replaces the dense encoder that places users (tests pass
    a cheap one). Every option is checked, the model loaded and the task fitted before
    any file is written. Returns the runs by condition and the partners.
    """
    if bins < 1:
        raise ConfigError(f"{{option}} must be >= 1, got {bins}", option="bins")
    _check_options(options)
    check_retrievers([retriever], option="retriever")
    # Conditions compare the method with itself on other profiles: no references per folder.
    config = (config or RunConfig()).replace(retrievers=(retriever,), **options).replace(
        references=False)
    spec_r = config.retrieval.retrievers[0]
    run = prepare_run(data_dir, split, config, task, limit, resolve_label_mode=False,
                      golds_needed="the swap study measures a change in the metric "
                                   "against the gold outputs")
    spec, questions, generator, settings = run.task, run.questions, run.model, run.settings
    golds = run.golds
    assert golds is not None
    config = config.replace(model=generator)
    out = Path(out_dir)
    key = {"seed": seed, "bins": bins, "data_dir": str(Path(data_dir).resolve()), "split": split}
    partners = _stored_partners(out, key)

    embeddings = _Embeddings(embed)
    population = Population(load_split(data_dir, split), spec, embeddings)
    swapper = Swapper(population, spec, bins, seed, golds)
    swapped = [c for c in conditions(bins) if c != OWN]
    todo = [q for q in questions if any(q.id not in partners.get(c, {}) for c in swapped)]
    if todo:  # every user's outputs first: the long part, shown and kept
        embeddings.place([[o for o in map(spec.output_of, population.users[name].values()) if o]
                          for name in population.names], progress)
    for q in tqdm(todo, disable=not progress or not todo, desc="partners", unit="q"):
        for c, p in swapper.partners(q, swapped).items():
            partners.setdefault(c, {})[q.id] = p
    if todo or not (out / PARTNERS).exists():
        atomic_write_json(out / PARTNERS, {"key": key, "partners": {
            c: {qid: asdict(p) for qid, p in by_q.items()} for c, by_q in partners.items()}})

    runs: dict[str, RetrieverRun] = {}
    bar = tqdm(conditions(bins), disable=not progress, desc="swap study", unit="condition")
    for condition in bar:
        bar.set_postfix_str(condition)
        reprofile = None if condition == OWN else _reprofiler(swapper, partners[condition])
        runs[condition] = evaluate(data_dir, split, [spec_r], out / condition, config,
                                   task=spec, limit=limit, progress=progress,
                                   reprofile=reprofile)[spec_r]
    chosen = {c: {q.id: partners[c][q.id] for q in questions} for c in swapped}
    study = SwapStudy(runs, chosen)
    study.summary = write_study(out, study, spec, spec_r, [q.id for q in questions],
                                {"seed": seed, "bins": bins, **settings.key()})
    return study


def _reprofiler(swapper: Swapper, partners: Mapping[str, Partner]
                ) -> Callable[[Question], Question]:
    def reprofile(q: Question) -> Question:
        return replace(q, profile=swapper.profile(q, partners[q.id]))
    return reprofile


def study(data_dir: str | Path, split: str, out_dir: str | Path, config: RunConfig,
          **options: Any) -> SwapStudy:
    """The registered ``swap`` study: the configuration's first retriever is the method."""
    return swap_study(data_dir, split, config.retrieval.retrievers[0], out_dir, config=config,
                      **options)
