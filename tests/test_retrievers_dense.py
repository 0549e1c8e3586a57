"""Dense retrieval with the real all-MiniLM-L6-v2: pooling, cache, errors, save/load."""

from __future__ import annotations

import sys
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from pergen.data.lamp import load_questions, questions_path
from pergen.data.records import ProfileItem, Scored
from pergen.errors import ConfigError, MissingExtraError
from pergen.retrievers import RankRequest, get_retriever
from pergen.retrievers.dense import DEFAULT_BACKEND, DenseRetriever, TextEncoder, load_encoder
from pergen.retrievers.encoder import Encoder, default_model_path
from pergen.tasks import get_task


@pytest.fixture(scope="module")
def encoder() -> Encoder:
    return Encoder.load(device="cpu")


@pytest.fixture(scope="module")
def requests(huffpost: Path) -> list[RankRequest]:
    task = get_task("LaMP_4")
    questions = load_questions(questions_path(huffpost, "dev"), limit=4)
    return [RankRequest(task.query(q.input), q.profile, [task.document(i) for i in q.profile])
            for q in questions]


def same_order_up_to_ties(scores: dict[str, float], order: list[str], tol: float) -> bool:
    """`order` sorts `scores` descending, allowing swaps of items within `tol`."""
    return all(scores[a] >= scores[b] - tol for a, b in pairwise(order))


def test_cache_encodes_each_distinct_text_once(encoder: Encoder,
                                               requests: list[RankRequest]) -> None:
    ret = DenseRetriever(encoder, batch_size=16)
    calls, texts = encoder.calls, encoder.texts_encoded
    first = ret.rank_many(requests[:2])
    second = ret.rank_many(requests)  # half already cached
    again = ret.rank_many(requests)  # all cached: no model call
    distinct = {t for r in requests for t in (r.query, *r.docs)}
    assert encoder.texts_encoded - texts == len(distinct)
    assert encoder.calls - calls == 2  # one call per batch that had new texts
    assert [[s.item.id for s in r] for r in second] == [[s.item.id for s in r] for r in again]
    assert [[s.item.id for s in r] for r in first] == \
        [[s.item.id for s in r] for r in second[:2]]

    naive = DenseRetriever(encoder, cache=False)
    texts = encoder.texts_encoded
    fresh = naive.rank_many(requests)
    assert encoder.texts_encoded - texts == sum(len({r.query, *r.docs}) for r in requests)
    for cached, recomputed in zip(second, fresh):
        by_id = {s.item.id: s.score for s in cached}
        assert np.allclose([by_id[s.item.id] for s in recomputed],
                           [s.score for s in recomputed], rtol=1e-4, atol=1e-4)
        assert same_order_up_to_ties(by_id, [s.item.id for s in recomputed], 1e-4)


def test_mean_pooling_and_raw_dot_product(encoder: Encoder) -> None:
    st = pytest.importorskip("sentence_transformers")
    model = st.SentenceTransformer(str(default_model_path()), device="cpu")
    unnormalized = st.SentenceTransformer(modules=[model[0], model[1]], device="cpu")
    texts = ["cats and kittens", "the cat sat on the mat", "stock markets fell"]
    expected = unnormalized.encode(texts)
    got = encoder.encode(texts)
    assert np.allclose(got, expected, atol=1e-5)
    assert not np.allclose(np.linalg.norm(got, axis=1), 1.0)  # no normalization
    items = [ProfileItem(str(i), {"text": t}, i) for i, t in enumerate(texts[1:])]
    req = RankRequest(texts[0], items, texts[1:])
    ranked = DenseRetriever(encoder).rank(req)
    assert [s.score for s in ranked] == pytest.approx(
        sorted((expected[1:] @ expected[0]).tolist(), reverse=True), abs=1e-4)


def test_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        get_retriever(f"dense:{tmp_path / 'missing'}")
    with pytest.raises(ConfigError, match="no model"):
        get_retriever(f"dense:{tmp_path}")
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now fails
    with pytest.raises(MissingExtraError, match=r"pergen\[local\]"):
        Encoder.load()


def test_save_and_load_round_trip(encoder: Encoder, tmp_path: Path) -> None:
    folder = encoder.save(tmp_path / "enc")
    again = get_retriever(f"dense:{folder}", device="cpu")
    assert again.name == f"dense:{folder}"
    texts = ["a headline about markets", "unicode café 東京"]
    assert np.allclose(again.encoder.encode(texts), encoder.encode(texts), atol=1e-5)
    assert again.encoder.max_length == encoder.max_length


@pytest.fixture(scope="module")
def onnx_encoders() -> dict[str, TextEncoder]:
    """The ONNX backends of the packaged model (exported into pergen's cache once)."""
    pytest.importorskip("onnxruntime")
    return {backend: load_encoder(backend=backend) for backend in ("onnx", "onnx-int8")}


def test_onnx_backends_encode_like_torch(encoder: Encoder,
                                         onnx_encoders: dict[str, TextEncoder]) -> None:
    texts = ["cats and kittens", "the cat sat on the mat", "", "unicode café 東京 \ud800",
             "stock markets fell sharply on Tuesday after the central bank's report " * 40]
    want = encoder.encode(texts)
    assert np.allclose(onnx_encoders["onnx"].encode(texts, batch_size=2), want, atol=1e-4)
    got = onnx_encoders["onnx-int8"].encode(texts, batch_size=2)
    cosine = (got * want).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(want, axis=1)
    assert cosine.min() > 0.95
    assert onnx_encoders["onnx"].max_length == encoder.max_length
    assert onnx_encoders["onnx"].dim == encoder.dim


def overlap_at_4(a: list[list[Scored]], b: list[list[Scored]]) -> float:
    return float(np.mean([len({s.item.id for s in x[:4]} & {s.item.id for s in y[:4]})
                          / min(4, len(y)) for x, y in zip(a, b) if y]))


@pytest.mark.parametrize("name", ["huffpost", "tweets"])
def test_onnx_rankings_overlap_torch(name: str, encoder: Encoder,
                                     onnx_encoders: dict[str, TextEncoder], huffpost: Path,
                                     tweets: Path, tweet_task_path: Path) -> None:
    """Top 4 of the first dev questions: float32 ONNX keeps torch's, int8 nearly."""
    task = get_task("LaMP_4" if name == "huffpost" else tweet_task_path)
    data = huffpost if name == "huffpost" else tweets
    reqs = [RankRequest(task.query(q.input), q.profile, [task.document(i) for i in q.profile])
            for q in load_questions(questions_path(data, "dev"), limit=6)]
    want = DenseRetriever(encoder).rank_many(reqs)
    assert overlap_at_4(DenseRetriever(onnx_encoders["onnx"]).rank_many(reqs), want) >= 0.95
    assert overlap_at_4(DenseRetriever(onnx_encoders["onnx-int8"]).rank_many(reqs), want) >= 0.6


def test_backend_choice(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown dense backend"):
        load_encoder(backend="tensorflow")
    with pytest.raises(ConfigError, match="CPU only"):
        load_encoder(backend="onnx", device="cuda")
    with pytest.raises(ConfigError, match="no model"):
        load_encoder(tmp_path, backend="onnx")
    with pytest.raises(ConfigError, match="does not exist"):
        load_encoder(tmp_path / "missing", backend="onnx-int8")


@pytest.mark.slow
def test_default_backend_is_onnx_for_the_packaged_model_on_cpu(
        onnx_encoders: dict[str, TextEncoder], monkeypatch: pytest.MonkeyPatch) -> None:
    from pergen.retrievers import dense
    from pergen.retrievers.onnx_encoder import OnnxEncoder, onnx_files

    monkeypatch.setattr(dense, "_has_gpu", lambda: False)
    ret = get_retriever("dense")
    assert isinstance(ret.encoder, OnnxEncoder)
    assert ret.encoder.name == DEFAULT_BACKEND
    assert onnx_files(quantize=DEFAULT_BACKEND == "onnx-int8").exists()  # cached: no export
