"""Levels (user, persona, global, auto), the profile cap, and no leakage."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from synthetic import TOPICS, FakeLM

from pergen.data.lamp import load_questions
from pergen.data.records import ProfileItem, Question
from pergen.errors import ConfigError
from pergen.memory.levels import LevelOptions, Population, ProfileSource, cap, profiles_at_level
from pergen.run.pipeline import evaluate
from pergen.tasks import get_task

TASK = get_task("LaMP_4")


def bag_of_topics(texts):  # a cheap, deterministic stand-in for the dense encoder
    return np.array([[t.count(w) for w in TOPICS] + [1e-3] for t in texts], dtype=float)


def item(i: str, title: str, date: str | None = None) -> ProfileItem:
    fields = {"title": title, "text": f"text of {title}"}
    if date:
        fields["date"] = date
    return ProfileItem(i, fields)


def test_cap_keeps_the_most_recent_in_order() -> None:
    profile = [item("a", "x", "2020-01-03"), item("b", "y", "2020-01-01"), item("c", "z", "2020-01-02")]
    assert [i.id for i in cap(profile, 2)] == ["a", "c"]
    assert [i.position for i in cap(profile, 2)] == [0, 1]  # renumbered for the retrievers
    assert cap(profile, 0) == () and cap(profile, None) == tuple(profile)


def _users() -> list[Question]:
    gardener = [item(f"g{i}", f"garden tip {i}", f"2020-01-0{i + 1}") for i in range(5)]
    rocketeer = [item(f"r{i}", f"rocket news {i}", f"2020-01-0{i + 1}") for i in range(5)]
    late = [item(f"l{i}", f"garden later {i}", f"2022-06-0{i + 1}") for i in range(5)]
    return [Question("q-g", "Generate a headline for the following article: garden", tuple(gardener), "g"),
            Question("q-r", "Generate a headline for the following article: rocket", tuple(rocketeer), "r"),
            Question("q-l", "Generate a headline for the following article: garden", tuple(late), "l"),
            Question("q-new", "Generate a headline for the following article: rocket", (), "new")]


def test_global_and_persona_never_see_later_items_nor_the_user_own() -> None:
    questions = _users()
    population = Population(questions, TASK, bag_of_topics)
    for level in ("global", "persona"):
        source = ProfileSource(LevelOptions(level=level, persona_k=1), TASK, population)
        formed = {q.id: source(q) for q in questions}
        for q in questions[:3]:
            own_user = q.user_id
            cutoff = max(i.date for i in q.profile if i.date)
            assert all(not p.id.startswith(f"{own_user}/") for p in formed[q.id].profile)
            assert all(p.date and p.date <= cutoff for p in formed[q.id].profile), level
        # the 2022 user is later than everyone: nobody sees its items
        assert not any(p.id.startswith("l/") for q in questions[:2] for p in formed[q.id].profile)
    persona = ProfileSource(LevelOptions(level="persona", persona_k=1), TASK, population)
    # the 2022 gardener's nearest other user is the 2020 gardener
    assert {p.id.split("/")[0] for p in persona(questions[2]).profile} == {"g"}


def test_auto_falls_back_with_the_profile_size() -> None:
    questions = _users()
    population = Population(questions, TASK, bag_of_topics)
    source = ProfileSource(LevelOptions(level="auto", min_profile=4, profile_cap=2), TASK, population)
    for q in questions:
        source(q)
    assert source.used == {"q-g": "persona", "q-r": "persona", "q-l": "persona", "q-new": "global"}
    full = ProfileSource(LevelOptions(level="auto", min_profile=4), TASK, population)
    assert full(questions[0]).profile == questions[0].profile and full.used["q-g"] == "user"


def test_persona_by_input_and_by_clusters() -> None:
    questions = _users()
    population = Population(questions, TASK, bag_of_topics)
    by_input = ProfileSource(LevelOptions(level="persona", persona_k=1, persona_select="input"),
                             TASK, population)
    # the 2022 gardener asks about rockets: its persona is the rocketeer
    asks_rocket = Question("q-x", "Generate a headline for the following article: rocket",
                           questions[2].profile, "l")
    assert {p.id.split("/")[0] for p in by_input(asks_rocket).profile} == {"r"}
    clustered = ProfileSource(LevelOptions(level="persona", personas=2), TASK, population)
    assert {p.id.split("/")[0] for p in clustered(questions[1]).profile} <= {"g", "r", "new"}


def test_bad_level_options_are_refused(synthetic, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="level 'team' is not valid"):
        evaluate(synthetic("generation"), "dev", ["bm25"], tmp_path / "o", model="knn", level="team")
    with pytest.raises(ConfigError, match="profile_cap must be >= 0"):
        evaluate(synthetic("generation"), "dev", ["bm25"], tmp_path / "o", model="knn", profile_cap=-1)
    assert not (tmp_path / "o").exists()


def test_cold_start_user_level_prompt_equals_none(synthetic, tmp_path: Path) -> None:
    data = synthetic("generation")
    evaluate(data, "dev", ["none"], tmp_path / "none", model=FakeLM(), progress=False)
    evaluate(data, "dev", ["bm25"], tmp_path / "cap0", model=FakeLM(), profile_cap=0,
             progress=False)
    prompts = [{json.loads(line)["id"]: json.loads(line)["prompt"]
                for line in (tmp_path / run / r / "journal.jsonl").read_text().splitlines()}
               for run, r in (("none", "none"), ("cap0", "bm25"))]
    assert prompts[0] == prompts[1]


def test_global_level_end_to_end_on_synthetic_users(synthetic, tmp_path: Path) -> None:
    data = synthetic("generation", users=4)
    runs = evaluate(data, "dev", ["bm25"], tmp_path / "g", model=FakeLM(), level="global",
                    embed=bag_of_topics, progress=False)
    journal = [json.loads(line) for line in
               (tmp_path / "g" / "bm25" / "journal.jsonl").read_text().splitlines()]
    users = {q.id: q.user_id for q in load_questions(data / "dev_questions.json")}
    for record in journal:
        assert record["retrieved"] and all(not r.startswith(f"{users[record['id']]}/")
                                           for r in record["retrieved"])
    # other users' headlines carry other topics: worse than the user's own
    own = evaluate(data, "dev", ["bm25"], tmp_path / "u", model=FakeLM(), progress=False)
    assert runs["bm25"].metrics["rouge-1"] < own["bm25"].metrics["rouge-1"]
    with pytest.raises(ConfigError, match="other settings"):
        evaluate(data, "dev", ["bm25"], tmp_path / "g", model=FakeLM(), level="user",
                 progress=False)


def test_user_level_without_cap_changes_nothing() -> None:
    questions = _users()
    assert profiles_at_level(questions, TASK, LevelOptions()) == questions


def test_cold_start_sweep_through_the_cli(synthetic, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from pergen.cli import app

    data = synthetic("label", users=3, per_user=2)
    out = tmp_path / "sweep"
    args = ["evaluate", "--data", str(data), "--model", "knn-vote", "--retriever", "bm25",
            "--level", "user", "--level", "global", "--profile-cap", "0",
            "--profile-cap", "2", "--profile-cap", "all", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    table = json.loads((out / "cold_start.json").read_text())
    assert set(table) == {"user", "global"} and set(table["user"]) == {"0", "2", "all"}
    # Every user tags with one habit: their own items (any N > 0) answer perfectly; with no
    # history knn-vote falls back to an empty prior; other users' habits answer wrongly.
    assert table["user"]["2"]["bm25"]["accuracy"] == 1.0
    assert table["user"]["all"]["bm25"]["accuracy"] == 1.0
    assert table["global"]["all"]["bm25"]["accuracy"] < 1.0
    assert (out / "cold_start.png").read_bytes().startswith(b"\x89PNG")
    assert "| user | bm25 |" in (out / "cold_start.md").read_text()
    assert (out / "global-cap0" / "bm25" / "predictions.json").exists()
    report = CliRunner().invoke(app, ["report", str(out)])
    assert report.exit_code == 0, report.output
    assert "data:image/png;base64," in (out / "report.html").read_text()
    assert "| global | bm25 |" in (out / "report.md").read_text()
    bad = CliRunner().invoke(app, ["evaluate", "--data", str(data), "--model", "knn",
                                   "--profile-cap", "some", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "--profile-cap" in bad.output
