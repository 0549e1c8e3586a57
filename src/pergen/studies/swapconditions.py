"""The swap study's condition names, in one place for both of its sides: the study that
runs the conditions (`pergen.studies.swap`) and the report that reads them back from
``swap.json`` (`pergen.reports.swap`). Why a module of its own: the two must spell the
names the same way, and neither may import the other (the study writes its report).
"""

from __future__ import annotations

OWN, MOST, RANDOM, LEAST = "own", "most", "random", "least"
BIN_PREFIX = "bin-"


def bin_name(b: int) -> str:
    """The condition of similarity bin `b` (1: the most similar), e.g. ``bin-03``."""
    return f"{BIN_PREFIX}{b:02d}"


def bin_number(condition: str) -> int | None:
    """The similarity bin a condition names, None for the others (own, most...)."""
    return int(condition.removeprefix(BIN_PREFIX)) if condition.startswith(BIN_PREFIX) else None
