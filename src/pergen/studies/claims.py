"""The research notes' claims, each as rows of two conditions: what `pergen.studies.findings` runs.

A claim (note 000-003) becomes one or more comparisons of condition A with condition B
on the same questions, and says whether A should do better (+1) or worse (-1). A
condition is an `evaluate` run folder ``OUT/<name>/`` set by `CONDITIONS`' options on
top of the method (``own``: the method as given: full view, profile before the input,
items, the user's own profile), or one of the swap study's (``most``, ``random``), or
``confident`` (the abstention row's subset of ``own``: no run of its own).

- ``view`` (000): output-only profiles match or beat full ones; input-only ones hurt;
- ``position`` (000): the profile before the input weighs more than after it;
- ``retrieval`` (002): recency-based recall beats similarity retrieval (the method's);
- ``memory`` (002): a summary of the user beats the retrieved items;
- ``levels`` (003): under cold start (each user's `cold_cap` newest items), a persona's
  or everyone's items beat the user's own, and a persona beats everyone;
- ``swap`` (001): the most similar other user's profile hurts more than a random user's
  (`pergen.studies.swap`), and any other user's hurts;
- ``abstention`` (001): the model's most confident answers (`coverage`, 80%) are better
  than all of them (the confidence of `pergen.evaluation.confidence`, kept as
  `pergen.evaluation.abstention.selective_figures` keeps them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .swap import MOST, OWN, RANDOM

SWAP = "swap"  # the claim whose conditions the swap study runs, in its own folders
CONFIDENT = "confident"  # the abstention row's subset of ``own``: not a run of its own
LEVELS = ("user", "persona", "global")


@dataclass(frozen=True)
class Comparison:
    """One row of a claim: condition `a` against `b`; `expects` +1 when the note says a
    does better, -1 when it says a does worse."""

    a: str
    b: str
    a_label: str
    b_label: str
    expects: int


@dataclass(frozen=True)
class Claim:
    name: str  # what --only takes
    note: str  # the research note that makes it
    title: str
    statement: str
    comparisons: tuple[Comparison, ...]


def cold(level: str, cap: int) -> str:
    return f"{level}-cap{cap}"


def claims(retriever: str = "bm25", k: int = 4, cold_cap: int = 1, coverage: float = 0.8,
           summarizer: str = "stats") -> tuple[Claim, ...]:
    """Every claim, with its rows' conditions and labels for these settings."""
    items = f"own profile ({retriever} top {k})"
    c = f"{cold_cap} newest item{'s' if cold_cap != 1 else ''}"
    return (
        Claim("view", "000", "Outputs over inputs", "Output-only profiles match or beat full "
              "profiles; input-only profiles hurt.",
              (Comparison("output-only", OWN, "output-only profile", "full profile", 1),
               Comparison("input-only", OWN, "input-only profile", "full profile", -1))),
        Claim("position", "000", "Profile position", "Profile items placed near the "
              "beginning of the prompt influence more than at the end.",
              (Comparison(OWN, "after", "profile before the input", "profile after the input",
                          1),)),
        Claim("retrieval", "002", "Recency over similarity", "Recency-based recall beats "
              "similarity-based retrieval.",
              (Comparison("recency", OWN, f"recency top {k}", f"{retriever} top {k}", 1),)),
        Claim("memory", "002", "Summaries over items", "Abstract preference summaries beat "
              "retrieving raw past items.",
              (Comparison("summary", OWN, f"summary of the user ({summarizer})",
                          f"{retriever} top {k} items", 1),)),
        Claim("levels", "003", "Levels under cold start", "User-level personalization needs "
              "the user's data: under cold start a persona (similar users) or everyone's "
              "items serve better, a persona more precisely than everyone.",
              (Comparison(cold("persona", cold_cap), cold("user", cold_cap),
                          f"persona, user with {c}", f"user's own {c}", 1),
               Comparison(cold("global", cold_cap), cold("user", cold_cap),
                          f"global, user with {c}", f"user's own {c}", 1),
               Comparison(cold("persona", cold_cap), cold("global", cold_cap),
                          f"persona, user with {c}", f"global, user with {c}", 1))),
        Claim("swap", "001", "Near-miss profiles", "Replacing a user's profile with the most "
              "similar other user's hurts more than a random user's (the near miss); another "
              "user's profile hurts at all.",
              (Comparison(MOST, RANDOM, "most similar user's profile", "random user's profile",
                          -1),
               Comparison(RANDOM, OWN, "random user's profile", items, -1))),
        Claim("abstention", "001", "Abstention", "Letting the model abstain when unsure "
              "recovers reliability: its confident answers are better than all of them.",
              (Comparison(CONFIDENT, OWN, f"the {coverage:.0%} most confident answers",
                          "all answers", 1),)),
    )


CLAIM_NAMES = tuple(c.name for c in claims())


def conditions(cold_cap: int = 1, summarizer: str = "stats", summary_tokens: int = 96
               ) -> dict[str, dict[str, Any]]:
    """The evaluate options of every run folder a claim compares, on top of the method's."""
    return {OWN: {}, "output-only": {"view": "output-only"}, "input-only": {"view": "input-only"},
            "after": {"position": "after"}, "recency": {"retriever": "recency"},
            "summary": {"memory": "summary", "summarizer": summarizer,
                        "summary_tokens": summary_tokens},
            **{cold(level, cold_cap): {"level": level, "profile_cap": cold_cap}
               for level in LEVELS}}
