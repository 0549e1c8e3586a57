"""Every registered retriever keeps the protocol; none, random, recency and RRF by hand."""

from __future__ import annotations

import pytest

from pergen.data.records import ProfileItem, Scored
from pergen.errors import ConfigError
from pergen.retrievers import RETRIEVERS, RankRequest, get_retriever, rank_many
from pergen.retrievers._tokens import _SEP
from pergen.retrievers.base import BaseRetriever
from pergen.retrievers.encoder import Encoder, default_model_path
from pergen.retrievers.rrf import fuse

HOSTILE = [
    "",
    "   \t\n ",
    "naïve café — 東京 🙂 \u200b zero\u200bwidth",
    "no\u3000break\xa0space\u2028line",
    "lone \ud800 surrogate and NUL \x00 byte",
    f"contains the bm25 separator {_SEP} inside",
    "The the THE the. the, the",
    "long " * 20000,
    "x" * 5000,
]


def items(texts: list[str], dated: bool = True) -> list[ProfileItem]:
    return [ProfileItem(id=f"p{i}", position=i,
                        fields={"text": t, **({"date": f"2020-01-{i % 28 + 1:02d}"}
                                              if dated else {})})
            for i, t in enumerate(texts)]


def make_request(query: str, profile: list[ProfileItem]) -> RankRequest:
    return RankRequest(query, profile, [p.get("text") for p in profile])


@pytest.fixture(scope="session")
def encoder() -> Encoder:
    return Encoder.load()  # the real all-MiniLM-L6-v2, loaded once for the session


NEEDS_ENCODER = ("dense", "dense-cos", "rrf", "ropg-kd", "ropg-rl")  # rrf fuses dense by default


def build(name: str, request: pytest.FixtureRequest) -> BaseRetriever:
    """One instance of a registered name; dense ones share the session's encoder (the ROPG
    aliases load any encoder folder: here the untrained default one)."""
    if name not in NEEDS_ENCODER:
        return get_retriever(name)
    encoder = request.getfixturevalue("encoder")
    if name.startswith("ropg-"):
        return get_retriever(f"{name}:{default_model_path()}", encoder=encoder)
    share = {"dense": {"encoder": encoder}}
    return get_retriever(name, **({"options": share} if name == "rrf" else share["dense"]))


def check_permutation(name: str, profile: list[ProfileItem], ranked: list[Scored]) -> None:
    if name == "none":
        assert ranked == []
        return
    assert all(isinstance(s, Scored) and isinstance(s.score, float) for s in ranked)
    assert sorted(id(s.item) for s in ranked) == sorted(id(p) for p in profile)
    assert len(ranked) == len(profile)
    scores = [s.score for s in ranked]
    assert scores == sorted(scores, reverse=True), "best first"


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.slow) if n in NEEDS_ENCODER else n for n in RETRIEVERS.names()])
def test_contract(name: str, request: pytest.FixtureRequest) -> None:
    ret = build(name, request)
    assert isinstance(ret.name, str) and ret.name.startswith(name)
    profile = items(["the cat sat on the mat", "dogs chase cats", "stock markets fell",
                     "a cat and a dog", "the weather is mild"])
    req = make_request("cat dog", profile)
    check_permutation(name, profile, ret.rank(req))
    assert ret.rank(make_request("cat", [])) == []
    one = items(["only item"])
    check_permutation(name, one, ret.rank(make_request("anything", one)))
    hostile = items(HOSTILE)
    for query in ["", "the", HOSTILE[2], HOSTILE[4], HOSTILE[-2]]:
        check_permutation(name, hostile, ret.rank(make_request(query, hostile)))
    # A batch ranks like the requests one by one.
    reqs = [req, make_request("", []), make_request("the cat", hostile), make_request("markets", profile)]
    batched = rank_many(ret, reqs)
    single = [ret.rank(r) for r in reqs]
    assert [[id(s.item) for s in r] for r in batched] == [[id(s.item) for s in r] for r in single]


def test_unknown_names_and_options() -> None:
    with pytest.raises(ConfigError, match="accepted: .*bm25"):
        get_retriever("nope")
    with pytest.raises(ConfigError):
        get_retriever("bm25", colour="red")
    with pytest.raises(ConfigError):
        get_retriever("bm25:arg")
    with pytest.raises(ConfigError):
        get_retriever("random:abc")
    with pytest.raises(ConfigError):
        get_retriever("rrf:bm25++recency")
    with pytest.raises(ConfigError):
        get_retriever("rrf:rrf")


def test_none_and_names() -> None:
    assert get_retriever("none").rank(make_request("q", items(["a", "b"]))) == []
    assert get_retriever("random:7").name == "random:7"
    assert get_retriever("rrf:bm25+recency").name == "rrf:bm25+recency"


def test_random_is_seeded_per_request() -> None:
    profile = items([f"doc {i}" for i in range(30)])
    order = lambda ret, q: [s.item.id for s in ret.rank(make_request(q, profile))]
    a, b = get_retriever("random"), get_retriever("random:0")
    assert order(a, "q1") == order(b, "q1")  # default seed is 0
    assert order(a, "q1") == order(a, "q1")  # same request, same order, any history
    assert order(a, "q1") != order(a, "q2")  # the query is mixed into the seed
    assert order(get_retriever("random", seed=5), "q1") == order(get_retriever("random:5"), "q1")
    assert order(get_retriever("random:5"), "q1") != order(a, "q1")


def test_recency_newest_first_then_undated_by_position() -> None:
    def item(i: int, date: str | None) -> ProfileItem:
        return ProfileItem(f"p{i}", {"text": "t", **({"date": date} if date is not None else {})}, i)

    profile = [item(0, "2019-01-01"), item(1, None), item(2, "2021-06-01T10:00"),
               item(3, "2021-06-01"), item(4, ""), item(5, "2021-06-01"), item(6, None)]
    got = [s.item.id for s in get_retriever("recency").rank(make_request("q", profile))]
    # Dated newest first, equal dates in profile order; then undated, later position first.
    assert got == ["p2", "p3", "p5", "p0", "p6", "p4", "p1"]
    undated = items(["a", "b", "c"], dated=False)
    assert [s.item.id for s in get_retriever("recency").rank(make_request("q", undated))] == [
        "p2", "p1", "p0"]


def test_rrf_by_hand() -> None:
    a, b, c = items(["a", "b", "c"])
    s = lambda *xs: [Scored(x, 0.0) for x in xs]
    fused = fuse([a, b, c], [s(a, b, c), s(c, a, b)], k=60)
    assert [x.item.id for x in fused] == ["p0", "p2", "p1"]
    assert [x.score for x in fused] == pytest.approx([1 / 61 + 1 / 62, 1 / 61 + 1 / 63,
                                                      1 / 62 + 1 / 63])
    # A tie keeps profile order, whichever profile order that is.
    assert [x.item.id for x in fuse([a, b], [s(a, b), s(b, a)])] == ["p0", "p1"]
    assert [x.item.id for x in fuse([b, a], [s(a, b), s(b, a)])] == ["p1", "p0"]
    # k sets how much a first place outweighs steady second places: c is second three
    # times; b is first once and third twice. With k=0 b wins, with k=60 c does.
    votes = [s(a, c, b), s(b, c, a), s(a, c, b)]
    assert [x.item.id for x in fuse([a, b, c], votes, k=0)] == ["p0", "p1", "p2"]
    assert [x.score for x in fuse([a, b, c], votes, k=0)] == pytest.approx([7 / 3, 5 / 3, 3 / 2])
    assert [x.item.id for x in fuse([a, b, c], votes, k=60)] == ["p0", "p2", "p1"]
    # An empty ranking (the `none` retriever) adds nothing; a partial one counts its items.
    assert [x.item.id for x in fuse([a, b, c], [[], s(c)])] == ["p2", "p0", "p1"]
    with pytest.raises(ConfigError):
        fuse([a, b], [s(c)])


def test_rrf_fuses_real_retrievers() -> None:
    profile = items(["cat cat cat", "dog", "cat dog"])
    req = make_request("cat", profile)
    bm25, recency = get_retriever("bm25"), get_retriever("recency")
    expected = fuse(profile, [bm25.rank(req), recency.rank(req)], k=60)
    got = get_retriever("rrf:bm25+recency", k=60).rank(req)
    assert [(x.item.id, x.score) for x in got] == [(x.item.id, x.score) for x in expected]
    shared = get_retriever("rrf", retrievers=[bm25, recency], k=10)
    assert shared.name == "rrf:bm25+recency" and shared.k == 10


def test_dense_cos_normalizes_what_dense_does_not() -> None:
    """Two docs along the query's direction but of different length: dense prefers the
    longer one by a wide margin, dense-cos scores both 1 (a tie, kept in profile order)."""
    from pergen.retrievers.dense import DenseRetriever

    class Fixed:
        dim = 2
        vectors = {"q": [1.0, 0.0], "short": [1.0, 0.0], "long": [5.0, 0.0], "side": [0.0, 3.0]}

        def encode(self, texts, batch_size=32):  # type: ignore[no-untyped-def]
            import numpy as np
            return np.array([self.vectors[t] for t in texts], dtype=np.float32)

    profile = items(["short", "long", "side"])
    req = RankRequest("q", profile, ["short", "long", "side"])
    raw = DenseRetriever(Fixed()).rank(req)  # type: ignore[arg-type]
    cos = DenseRetriever(Fixed(), cosine=True).rank(req)  # type: ignore[arg-type]
    assert [(s.item.get("text"), s.score) for s in raw] == [("long", 5.0), ("short", 1.0),
                                                            ("side", 0.0)]
    assert [(s.item.get("text"), round(s.score, 6)) for s in cos] == [("short", 1.0), ("long", 1.0),
                                                                      ("side", 0.0)]
