"""Shared fixtures: the real data sets in ../shared/data (never copied here), small
synthetic data sets written by the tests, and markers.

Tests that need the real data ask for the `huffpost` / `tweets` fixtures (or the
`shared_data` marker): without ../shared they skip with the reason, except under
CI=true, where a missing data set fails the run instead of silently testing less.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("PERGEN_SHARED_DATA", REPO.parent / "shared" / "data"))
HUFFPOST = SHARED_DATA / "huffpost_headlines"
TWEETS = SHARED_DATA / "troll_tweets_authorship"
TWEET_TASK = REPO / "examples" / "tasks" / "tweet_authorship.toml"
DATA_FIXTURES = {"huffpost", "tweets"}
SLOW_FIXTURES = {"encoder"}  # the real MiniLM encoder: seconds to load, more to run


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def require(path: Path, what: str) -> Path:
    """`path`, or skip (fail under CI=true) with a reason that says what is missing."""
    if path.exists():
        return path
    reason = (f"{what} not found at {path} (the real data sets live in ../shared/data; "
              "set PERGEN_SHARED_DATA to point elsewhere)")
    if in_ci():
        pytest.fail(f"{reason}; CI=true requires it", pytrace=False)
    pytest.skip(reason)


def require_program(name: str, why: str) -> str:
    """The path of a program on PATH, or skip (fail under CI=true) naming it."""
    found = shutil.which(name)
    if found:
        return found
    reason = f"{name} is not installed ({why}); see the README's optional system packages"
    if in_ci():
        pytest.fail(f"{reason}; CI=true requires it", pytrace=False)
    pytest.skip(reason)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that uses a real data set (`shared_data`) or the real encoder (`slow`),
    so `-m "not shared_data"` / `-m "not slow"` deselect them."""
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        if DATA_FIXTURES & used:
            item.add_marker(pytest.mark.shared_data)
        if SLOW_FIXTURES & used:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def huffpost() -> Path:
    return require(HUFFPOST, "shared data set huffpost_headlines")


@pytest.fixture(scope="session")
def tweets() -> Path:
    return require(TWEETS, "shared data set troll_tweets_authorship")


@pytest.fixture(scope="session")
def tweet_task_path() -> Path:
    return TWEET_TASK


@pytest.fixture
def synthetic(tmp_path: Path):
    """`synthetic(kind)`: write a small data set of that kind ("generation", "label",
    "rating") under tmp_path and return its folder (split "dev")."""
    from synthetic import KINDS

    made: list[Path] = []

    def make(kind: str, **options: int) -> Path:
        made.append(tmp_path / f"{kind}-{len(made)}")  # a fresh folder for every call
        return KINDS[kind](made[-1], **options)
    return make
