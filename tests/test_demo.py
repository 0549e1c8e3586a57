"""The demo's data set, built from the chitchat-dataset package."""

from __future__ import annotations

from pathlib import Path

from pergen.data.demo import DEMO_TASK, INSTRUCTION, build_demo_data
from pergen.data.lamp import load_outputs, load_questions
from pergen.tasks import get_task


def test_demo_data_is_per_user_and_time_ordered(tmp_path: Path) -> None:
    folder = build_demo_data(tmp_path, users=6)
    questions = load_questions(folder / "dev_questions.json")
    golds = load_outputs(folder / "dev_outputs.json")
    assert len(questions) == 6 and golds.task == DEMO_TASK
    assert len({q.user_id for q in questions}) == 6
    task = get_task(DEMO_TASK)
    for q in questions:
        assert q.input.startswith(INSTRUCTION) and task.query(q.input)
        assert 40 <= len(q.profile) <= 100
        dates = [p.date for p in q.profile]
        assert dates == sorted(dates)
        assert golds.by_id[q.id] and all(p.get("reply") for p in q.profile)
    assert build_demo_data(tmp_path / "again", users=6).joinpath("dev_questions.json") \
        .read_text() == (folder / "dev_questions.json").read_text()  # deterministic
