"""A component defined outside pergen registers and runs everywhere, touching no pergen
file: a retriever in `evaluate` and `rank`, a study in `run_study` and `pergen study`."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from synthetic import FakeLM
from typer.testing import CliRunner

from pergen.cli import app
from pergen.data.records import Scored
from pergen.retrievers import RETRIEVERS, BaseRetriever, RankRequest
from pergen.run.config import RunConfig
from pergen.run.pipeline import evaluate
from pergen.run.ranking import rank
from pergen.studies import STUDIES, run_study


class Backwards(BaseRetriever):
    """The profile in reverse file order: an order no built-in gives."""

    name = "backwards"

    def rank(self, request: RankRequest) -> Sequence[Scored]:
        n = len(request.profile)
        return [Scored(item, float(n - i)) for i, item in enumerate(reversed(request.profile))]


@pytest.fixture
def backwards() -> Iterator[str]:
    RETRIEVERS.register("backwards")(lambda **options: Backwards())
    yield "backwards"
    RETRIEVERS.unregister("backwards")


def test_a_retriever_from_outside_runs_in_rank_and_evaluate(backwards, synthetic, tmp_path):
    data = synthetic("generation")
    ranking = rank(data, "dev", backwards, limit=3, progress=False)
    questions = json.loads((data / "dev_questions.json").read_text())[:3]
    assert ranking == {q["id"]: [i["id"] for i in reversed(q["profile"])] for q in questions}
    runs = evaluate(data, "dev", ["none", backwards], tmp_path / "r", model=FakeLM(), k=1,
                    limit=3, progress=False, references=False)
    journal = [json.loads(line) for line in
               (tmp_path / "r" / "backwards" / "journal.jsonl").read_text().splitlines()]
    assert [r["retrieved"] for r in journal] == [[q["profile"][-1]["id"]] for q in questions]
    assert set(runs) == {"none", "backwards"} and runs["backwards"].metrics


def _count_study(data_dir, split, out_dir, config, **options):
    runs = evaluate(data_dir, split, None, Path(out_dir) / "only", config, **options)
    (Path(out_dir) / "count.json").write_text(json.dumps({r: len(run.predictions)
                                                          for r, run in runs.items()}))
    return runs


@pytest.fixture
def count_study() -> Iterator[str]:
    STUDIES.register("count")(lambda: _count_study)
    yield "count"
    STUDIES.unregister("count")


def test_a_study_from_outside_runs_through_the_registry_and_the_cli(count_study, synthetic,
                                                                     tmp_path):
    data = synthetic("generation")
    config = RunConfig.build(retrievers=("bm25",), model=FakeLM(), k=1, references=False)
    run_study(count_study, data, "dev", tmp_path / "a", config, limit=4, progress=False)
    assert json.loads((tmp_path / "a" / "count.json").read_text()) == {"bm25": 4}
    result = CliRunner().invoke(app, ["study", count_study, "--data", str(data), "--out",
                                      str(tmp_path / "b"), "--model", "knn", "--limit", "2",
                                      "--no-reference"])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "b" / "count.json").read_text()) == {"bm25": 2}


def test_the_configuration_round_trips_through_config_json(synthetic, tmp_path):
    data = synthetic("generation")
    config = RunConfig.build(retrievers=("bm25",), model="knn", k=2, level="global")
    evaluate(data, "dev", None, tmp_path / "r", config, limit=2, progress=False)
    stored = json.loads((tmp_path / "r" / "config.json").read_text())
    assert RunConfig.from_json(stored) == config
    assert stored["prompt"]["k"] == 2 and stored["levels"]["level"] == "global"


def test_a_retriever_from_outside_serves_requests(backwards, tmp_path):
    from fastapi.testclient import TestClient
    from test_serve_support import auth, database_url, make_key

    from pergen.serve.app import Settings, create_app
    from pergen.serve.db import connect

    db = database_url("sqlite", tmp_path)
    key = make_key(db, "acme")
    settings = Settings(db=db, upstream="http://127.0.0.1:9/v1",
                        retrievers=("bm25", "back=backwards"))
    with TestClient(create_app(settings, connect(db))) as client:
        items = [{"id": str(i), "text": f"item {i}"} for i in range(3)]
        assert client.post("/v1/users/u/items", json={"items": items},
                           headers=auth(key)).status_code < 300
        r = client.post("/v1/retrieve", json={"user": "u", "query": "item", "k": 3,
                                              "retriever": "back"}, headers=auth(key))
        assert r.status_code == 200, r.text
        assert [hit["id"] for hit in r.json()["items"]] == ["2", "1", "0"]
