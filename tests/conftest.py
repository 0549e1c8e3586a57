"""Shared fixtures: paths of the real data sets in ../shared/data (never copied here)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("PERGEN_SHARED_DATA", REPO.parent / "shared" / "data"))
HUFFPOST = SHARED_DATA / "huffpost_headlines"
TWEETS = SHARED_DATA / "troll_tweets_authorship"
TWEET_TASK = REPO / "examples" / "tasks" / "tweet_authorship.toml"


@pytest.fixture(scope="session")
def huffpost() -> Path:
    assert HUFFPOST.exists(), f"shared data missing: {HUFFPOST}"
    return HUFFPOST


@pytest.fixture(scope="session")
def tweets() -> Path:
    assert TWEETS.exists(), f"shared data missing: {TWEETS}"
    return TWEETS


@pytest.fixture(scope="session")
def tweet_task_path() -> Path:
    return TWEET_TASK
