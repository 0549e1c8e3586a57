"""BM25 equals the paper's rank_bm25 on every dev question of both shared data sets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pergen.data.lamp import load_questions, questions_path
from pergen.data.records import ProfileItem
from pergen.retrievers import RankRequest, get_retriever
from pergen.retrievers.bm25 import BM25Retriever
from pergen.tasks import get_task

rank_bm25 = pytest.importorskip("rank_bm25")


def dev_requests(data: Path, task_name: str | Path) -> list[RankRequest]:
    task = get_task(task_name)
    return [RankRequest(task.query(q.input), q.profile, [task.document(i) for i in q.profile])
            for q in load_questions(questions_path(data, "dev"))]


def reference(req: RankRequest) -> np.ndarray:
    return rank_bm25.BM25Okapi([d.split() for d in req.docs]).get_scores(req.query.split())


@pytest.fixture(scope="module", params=["huffpost", "tweets"])
def requests(request: pytest.FixtureRequest, huffpost: Path, tweets: Path,
             tweet_task_path: Path) -> list[RankRequest]:
    if request.param == "huffpost":
        return dev_requests(huffpost, "LaMP_4")
    return dev_requests(tweets, tweet_task_path)


def test_scores_and_rankings_equal_rank_bm25(requests: list[RankRequest]) -> None:
    ret = get_retriever("bm25")
    ranked = []
    for start in range(0, len(requests), 16):  # batches, as the pipeline ranks
        ranked += ret.rank_many(requests[start:start + 16])
    assert len(ranked) == len(requests) > 100
    for req, got in zip(requests, ranked):
        ref = reference(req)
        mine = ret.scores(req.query, req.docs)
        assert np.allclose(mine, ref, rtol=1e-12, atol=1e-12)
        assert np.array_equal(mine, ref)  # same float operations in the same order
        order = sorted(range(len(ref)), key=lambda i: -ref[i])  # stable: ties by profile
        assert [s.item for s in got] == [req.profile[i] for i in order]
        assert [s.score for s in got] == [float(ref[i]) for i in order]


def test_batch_composition_does_not_matter(requests: list[RankRequest]) -> None:
    sample = requests[:40]
    one_batch = BM25Retriever().rank_many(sample)
    fresh = BM25Retriever()
    one_by_one = [fresh.rank(r) for r in reversed(sample)][::-1]
    assert [[(s.item.id, s.score) for s in r] for r in one_batch] == \
        [[(s.item.id, s.score) for s in r] for r in one_by_one]


def test_recency_dates_non_increasing(requests: list[RankRequest]) -> None:
    ret = get_retriever("recency")
    for req in requests:
        dates = [s.item.date for s in ret.rank(req)]
        assert all(dates)  # both data sets date every item
        assert dates == sorted(dates, reverse=True)


def profile(*texts: str) -> list[ProfileItem]:
    return [ProfileItem(f"p{i}", {"text": t}, i) for i, t in enumerate(texts)]


@pytest.mark.parametrize("docs,query", [
    (["the cat sat", "the dog sat", "the bird flew", "a fish swam"], "the cat"),
    (["a a a", "a b", "b b b b b b"], "a b a"),                 # repeated query words
    (["x y", "x y", "y x"], "x y z"),                          # exact ties, unknown word
    (["same words here", "same words here", "other"], "same words here"),
    (["", "word", ""], "word"),                                # empty documents
    (["Case case CASE", "case"], "case"),                      # case-sensitive
    (["e\u0301t\u00e9 \u3000 caf\u00e9", "caf\u00e9 \xa0 x"], "caf\u00e9 x"),  # unicode spaces
])
def test_small_cases_equal_rank_bm25(docs: list[str], query: str) -> None:
    items = profile(*docs)
    req = RankRequest(query, items, docs)
    ref = reference(req)
    assert np.array_equal(BM25Retriever().scores(query, docs), ref)
    order = sorted(range(len(ref)), key=lambda i: -ref[i])
    assert [s.item.id for s in BM25Retriever().rank(req)] == [f"p{i}" for i in order]


def test_degenerate_profiles_score_zero() -> None:
    ret = BM25Retriever()
    assert ret.scores("q", []).tolist() == []
    assert ret.scores("q", ["", "  "]).tolist() == [0.0, 0.0]  # rank_bm25 divides by zero
    assert ret.scores("", ["a b"]).tolist() == [0.0]
    assert ret.scores("zzz", ["a b", "c"]).tolist() == [0.0, 0.0]


def split_requests(data: Path, task_name: str | Path, split: str) -> list[RankRequest]:
    task = get_task(task_name)
    return [RankRequest(task.query(q.input), q.profile, [task.document(i) for i in q.profile])
            for q in load_questions(questions_path(data, split))]


@pytest.mark.parametrize("split", ["dev", "train"])
@pytest.mark.parametrize("name", ["huffpost", "tweets"])
def test_every_split_ranks_as_rank_bm25(name: str, split: str, huffpost: Path, tweets: Path,
                                         tweet_task_path: Path, tmp_path: Path) -> None:
    """All four shared splits, in `pergen rank`'s batches of 64, with and without the
    token cache (written by a first run, read back by a second): item order and scores
    identical to rank_bm25, question by question."""
    reqs = split_requests(huffpost, "LaMP_4", split) if name == "huffpost" else \
        split_requests(tweets, tweet_task_path, split)
    want = []
    for req in reqs:
        ref = reference(req) if req.docs else np.zeros(0)
        order = sorted(range(len(ref)), key=lambda i: -ref[i])
        want.append([(req.profile[i].id, float(ref[i])) for i in order])
    for ret in (BM25Retriever(), BM25Retriever(token_cache=tmp_path),
                BM25Retriever(token_cache=tmp_path)):
        got = [r for start in range(0, len(reqs), 64) for r in ret.rank_many(reqs[start:start + 64])]
        assert [[(s.item.id, s.score) for s in r] for r in got] == want
    assert any(tmp_path.iterdir())


def test_token_cache_reads_back_what_tokenizing_gives(tmp_path: Path) -> None:
    docs = ["the cat sat", "the dog sat", "a fish \u3000 swam", "", "caf\u00e9 \ud800 x"]
    items = profile(*docs)
    reqs = [RankRequest("the cat", items, docs), RankRequest("fish x", items[2:], docs[2:])]
    plain = BM25Retriever().rank_many(reqs)
    first = BM25Retriever(token_cache=tmp_path)
    assert first.rank_many(reqs) == plain
    files = sorted(tmp_path.iterdir())
    assert len(files) == 1
    second = BM25Retriever(token_cache=tmp_path)
    assert second.rank_many(reqs) == plain
    assert second._tokens.vocab == first._tokens.vocab
    good = files[0].read_bytes()
    # Damaged entries are tokenized again, not trusted: garbage, a truncated file, and a
    # well-formed one whose word ids point outside the vocabulary (compiled code indexes
    # arrays with them unchecked) or whose vocabulary repeats a word.
    header = np.frombuffer(good, np.int64, 4)
    words_at = 32 + 8 * 2 * int(header[1])
    wild = bytearray(good)
    wild[words_at:words_at + 8] = np.int64(10**9).tobytes()
    repeated = good[:24] + np.int64(header[3] + 4).tobytes() + good[32:] + b"\nthe"
    for damaged in (b"not an entry", good[:-3], bytes(wild), repeated):
        files[0].write_bytes(damaged)
        assert BM25Retriever(token_cache=tmp_path).rank_many(reqs) == plain
    # Other texts, or the same texts after others: another entry.
    BM25Retriever(token_cache=tmp_path).rank_many(reqs[1:])
    assert len(list(tmp_path.iterdir())) == 2


def test_rankings_are_lazy_sequences_of_plain_scored() -> None:
    from pergen.data.records import Scored
    from pergen.retrievers import Ranking

    docs = ["a b", "b c", "c d"]
    items = profile(*docs)
    ranked = BM25Retriever().rank(RankRequest("b", items, docs))
    assert isinstance(ranked, Ranking) and len(ranked) == 3
    assert all(type(s) is Scored and type(s.score) is float for s in ranked)
    assert ranked == [Scored(s.item, s.score) for s in ranked]  # equals the list it reads as
    assert ranked[:2] == list(ranked)[:2] and ranked[-1] == list(ranked)[-1]
    assert [(s.item.id, s.score) for s in ranked] == [("p0", ranked[0].score), ("p1", ranked[1].score),
                                                       ("p2", 0.0)]
    assert ranked != [ranked[0]]
    with pytest.raises(IndexError):
        ranked[3]
