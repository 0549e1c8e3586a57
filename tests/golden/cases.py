"""Fixed evaluate settings whose outputs are pinned byte for byte (tests/test_golden.py).

`python tests/golden/cases.py` regenerates the expected files under tests/golden/expected
from the code as it is: run it only when an answer is meant to change, and say why in the
commit. The cases cover the pipeline's branches: several retrievers and a fusion, a
query-performance selector, a level other than the user's, a summary memory, abstention
with a fallback, label calibration, a no-LLM vote, and the real SmolLM2.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
EXPECTED = HERE / "expected"
FILES = ("predictions.json", "confidence.json")
sys.path.insert(0, str(HERE.parent))  # tests/ (synthetic.FakeLM), also when run as a script


def _fake() -> Any:
    from synthetic import FakeLM
    return FakeLM()


def _smollm2() -> Any:
    from pergen.llm import get_model
    return get_model("smollm2")


# name -> (data set folder name, task file or None, evaluate options, model maker)
CASES: dict[str, tuple[str, str | None, dict[str, Any], Callable[[], Any]]] = {
    "huffpost-fake-retrievers": ("huffpost_headlines", None, dict(
        retrievers=["none", "bm25", "recency", "rrf:bm25+recency", "qpp-wig"], k=2,
        limit=16), _fake),
    "huffpost-fake-global-summary-abstain": ("huffpost_headlines", None, dict(
        retrievers=["bm25"], level="global", memory="summary+items", summarizer="stats",
        coverage=0.5, fallback="abstain", limit=16), _fake),
    "tweets-fake-calibrate-cap": ("troll_tweets_authorship", "tweet_authorship.toml", dict(
        retrievers=["none", "bm25"], label_mode="calibrate", profile_cap=3,
        abstain_below=0.6, fallback="none", limit=16), _fake),
    "tweets-vote": ("troll_tweets_authorship", "tweet_authorship.toml", dict(
        retrievers=["bm25"], limit=16), lambda: "similarity-vote:2"),
    "huffpost-smollm2": ("huffpost_headlines", None, dict(
        retrievers=["none", "bm25"], limit=4), _smollm2),
    "tweets-smollm2": ("troll_tweets_authorship", "tweet_authorship.toml", dict(
        retrievers=["bm25"], limit=4), _smollm2),
}


def run_case(name: str, shared_data: Path, out: Path) -> Path:
    """Run one case into `out` (a fresh folder) and return it."""
    from pergen import evaluate
    folder, task, options, model = CASES[name]
    options = dict(options)
    retrievers = options.pop("retrievers")
    task_path = str(HERE.parents[1] / "examples" / "tasks" / task) if task else None
    # references=False: they were added after the golden files; off, nothing else changes
    evaluate(shared_data / folder, "dev", retrievers, out, task=task_path, model=model(),
             progress=False, summaries_dir=out / "summaries", references=False, **options)
    return out


def pinned(run_dir: Path) -> dict[str, bytes]:
    """The pinned files of a run folder: metrics.json and each run's predictions and
    confidence, by path relative to the folder."""
    found = {"metrics.json": (run_dir / "metrics.json").read_bytes()}
    for path in sorted(run_dir.glob("*/*.json")):
        if path.name in FILES:
            found[str(path.relative_to(run_dir))] = path.read_bytes()
    return found


def main() -> None:
    shared = HERE.parents[2] / "shared" / "data"
    names = sys.argv[1:] or list(CASES)
    for name in names:
        target = EXPECTED / name
        scratch = HERE / "_scratch" / name
        shutil.rmtree(scratch, ignore_errors=True)
        files = pinned(run_case(name, shared, scratch))
        shutil.rmtree(target, ignore_errors=True)
        for rel, data in files.items():
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            (target / rel).write_bytes(data)
        shutil.rmtree(scratch)
        print(f"{name}: {len(files)} files")


if __name__ == "__main__":
    main()
