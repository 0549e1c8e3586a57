"""The swap study: who is swapped in, that nothing leaks, and the study's files."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from synthetic import TOPICS, FakeLM

from pergen.data.lamp import load_outputs, load_questions
from pergen.data.records import ProfileItem, Question
from pergen.errors import ConfigError
from pergen.memory.levels import Population, date_cutoff, user_key
from pergen.studies.swap import LEAST, MOST, RANDOM, Swapper, conditions, pick_rank, swap_study
from pergen.tasks import get_task

TASK = get_task("LaMP_4")
PROMPT = "Generate a headline for the following article: "


def bag_of_topics(texts):  # a cheap, deterministic stand-in for the dense encoder
    return np.array([[t.count(w) for w in TOPICS] + [1e-3] for t in texts], dtype=float)


def hashed_words(texts, dim: int = 64):  # the same, for real text: hashed bag of words
    out = np.zeros((len(texts), dim))
    for row, text in enumerate(texts):
        for word in text.lower().split():
            out[row, hashlib.md5(word.encode()).digest()[0] % dim] += 1.0
    return out + 1e-6


def item(i: str, title: str, date: str | None = "2020-01-01") -> ProfileItem:
    fields = {"title": title, "text": f"text of {title}"}
    if date:
        fields["date"] = date
    return ProfileItem(i, fields)


def _graded() -> list[Question]:
    """Users from pure garden to pure rocket, a violinist, and a user dated after all."""
    mixes = {"a": "garden garden garden", "b": "garden garden rocket",
             "c": "garden rocket rocket", "d": "rocket rocket rocket", "e": "violin violin"}
    questions = [Question(f"q-{u}", PROMPT + "x",
                          tuple(item(f"{u}{i}", f"{mix} {i}", f"2020-01-0{i + 1}")
                                for i in range(3)), u) for u, mix in mixes.items()]
    late = tuple(item(f"z{i}", f"garden garden garden {i}", f"2023-01-0{i + 1}")
                 for i in range(3))
    return questions + [Question("q-z", PROMPT + "x", late, "z")]


def test_pick_rank_covers_the_bins() -> None:
    rng = np.random.default_rng(0)
    assert pick_rank(MOST, 7, 10, rng) == 0 and pick_rank(LEAST, 7, 10, rng) == 6
    for n in (1, 3, 10, 57):
        ranks = {c: {pick_rank(c, n, 10, np.random.default_rng(s)) for s in range(40)}
                 for c in conditions(10)[2:12]}
        assert all(0 <= r < n for rs in ranks.values() for r in rs)
        lows = [min(rs) for rs in ranks.values()]
        assert lows == sorted(lows)  # bin 1 never ranks below bin 2
        assert all(0 <= pick_rank(RANDOM, n, 10, np.random.default_rng(s)) < n for s in range(20))


def test_partners_are_never_the_user_ranked_by_similarity_and_dated() -> None:
    questions = _graded()
    population = Population(questions, TASK, bag_of_topics)
    swapper = Swapper(population, TASK, bins=3, seed=0)
    wanted = [c for c in conditions(3) if c != "own"]
    for q in questions:
        partners = swapper.partners(q, wanted)
        cutoff = date_cutoff(q.profile)
        for condition, p in partners.items():
            assert p.user is not None and p.user != user_key(q), condition
            profile = swapper.profile(q, p)
            assert profile and all(i.date and i.date <= cutoff for i in profile)
            assert [i.position for i in profile] == list(range(len(profile)))
        order = [partners[c].similarity for c in [MOST, "bin-01", "bin-02", "bin-03", LEAST]]
        assert order == sorted(order, reverse=True)
    a = swapper.partners(questions[0], [MOST, LEAST])
    assert a[MOST].user == "b" and a[MOST].candidates == 4  # z's items are all later than a's
    assert a[LEAST].user in ("d", "e")  # neither shares a word with a
    # the 2023 user may be shown anyone's (earlier) items; nobody is shown the 2023 user's
    assert swapper.partners(questions[-1], [MOST])[MOST].user == "a"
    assert all(p.user != "z" for q in questions[:-1] for p in swapper.partners(q, wanted).values())


def test_partners_repeat_with_the_seed_and_change_with_it() -> None:
    questions = _graded()
    population = Population(questions, TASK, bag_of_topics)
    picks = [{q.id: Swapper(population, TASK, 2, seed).partners(q, [RANDOM])[RANDOM].user
              for q in questions} for seed in (0, 0, 1, 2, 3)]
    assert picks[0] == picks[1]
    assert any(p != picks[0] for p in picks[2:])


def test_undated_question_in_a_dated_split_gets_no_partner() -> None:
    questions = _graded() + [Question("q-u", PROMPT + "x", (item("u0", "garden", None),), "u")]
    swapper = Swapper(Population(questions, TASK, bag_of_topics), TASK, 10, 0)
    p = swapper.partners(questions[-1], [MOST])[MOST]
    assert p.user is None and swapper.profile(questions[-1], p) == ()


def _leaky(folder: Path) -> Path:
    """Three users; user 0's second question's profile holds the gold of its first (as
    LaMP's per-user splits do), and user 1 wrote the very headline user 0 must write."""
    golds = {"u0-q0": "garden gold headline", "u0-q1": "garden second headline",
             "u1-q0": "rocket gold headline", "u2-q0": "violin gold headline"}
    base = {u: [{"id": f"{u}-p{i}", "date": f"2020-01-0{i + 1}", "title": f"{t} story {i}",
                 "text": f"about the {t} {i}"} for i in range(4)]
            for u, t in (("u0", "garden"), ("u1", "rocket"), ("u2", "violin"))}
    base["u1"].append({"id": "u1-copy", "date": "2020-01-02", "title": "garden gold headline",
                       "text": "about the garden copy"})
    later = base["u0"] + [{"id": "u0-old", "date": "2020-01-05", "title": golds["u0-q0"],
                           "text": "the garden again"}]
    questions = [{"id": "u0-q0", "user_id": "u0", "profile": base["u0"], "input": PROMPT + "garden"},
                 {"id": "u0-q1", "user_id": "u0", "profile": later, "input": PROMPT + "garden"},
                 {"id": "u1-q0", "user_id": "u1", "profile": base["u1"], "input": PROMPT + "rocket"},
                 {"id": "u2-q0", "user_id": "u2", "profile": base["u2"], "input": PROMPT + "violin"}]
    folder.mkdir(parents=True)
    (folder / "dev_questions.json").write_text(json.dumps(questions))
    (folder / "dev_outputs.json").write_text(json.dumps(
        {"task": "LaMP_4", "golds": [{"id": k, "output": v} for k, v in golds.items()]}))
    return folder


def _journal(path: Path) -> dict[str, dict]:
    return {r["id"]: r for r in map(json.loads, path.read_text().splitlines())}


def test_study_never_swaps_in_the_user_nor_the_gold(tmp_path: Path) -> None:
    data = _leaky(tmp_path / "data")
    out = tmp_path / "swap"
    study = swap_study(data, "dev", "bm25", out, model=FakeLM(), bins=2, embed=hashed_words,
                       progress=False)
    users = {q.id: q.user_id for q in load_questions(data / "dev_questions.json")}
    golds = load_outputs(data / "dev_outputs.json").by_id
    for condition in conditions(2)[1:]:
        journal = _journal(out / condition / "bm25" / "journal.jsonl")
        for qid, record in journal.items():
            partner = study.partners[condition][qid].user
            assert partner is not None and partner != users[qid]
            assert record["retrieved"]
            assert all(r.startswith(f"{partner}/") for r in record["retrieved"])
            assert golds[qid] not in record["prompt"], (condition, qid)
            assert record["output"] != golds[qid]  # FakeLM copies the top item's title
    # u1's copy of u0-q0's headline is the only item left out, each time u1 served u0-q0
    summary = json.loads((out / "swap.json").read_text())
    served = sum(study.partners[c]["u0-q0"].user == "u1" for c in study.partners)
    assert served > 0
    assert sum(r.get("dropped_gold_items", 0) for r in summary["conditions"].values()) == served


def test_study_files_resume_and_determinism(synthetic, tmp_path: Path) -> None:
    data = synthetic("generation", users=5, per_user=2)
    out = tmp_path / "swap"
    lm = FakeLM()
    study = swap_study(data, "dev", "bm25", out, model=lm, seed=3, bins=4, embed=bag_of_topics,
                       progress=False)
    assert set(study.runs) == set(conditions(4))
    summary = json.loads((out / "swap.json").read_text())
    assert summary["metrics"] == ["rouge-1", "rouge-L", "gold-loglik"]
    rows = summary["conditions"]
    assert "drop" not in rows["own"] and rows["own"]["metrics"]["rouge-1"] > 0
    for condition in conditions(4)[1:]:
        drop = rows[condition]["drop"]["rouge-1"]
        # other users' headlines carry other topics: every swap loses
        assert drop["value"] > 0 and drop["ci"][0] <= drop["value"] <= drop["ci"][1]
        # FakeLM's loglik counts gold words missing from the prompt: the input has the topic
        assert rows[condition]["drop"]["gold-loglik"]["value"] >= 0
    assert set(summary["contrasts"]) == {"near miss (most similar vs random)",
                                         "far miss (least similar vs random)"}
    table = (out / "swap.md").read_text()
    assert "| most similar |" in table and "rouge-1 drop [95% CI]" in table
    assert "confidence [95% CI]" in table  # FakeLM scores its answers: prob confidence
    assert (out / "swap.png").read_bytes().startswith(b"\x89PNG")
    partners = (out / "partners.json").read_text()

    # resumed: nothing answered again, same files
    again = FakeLM()
    swap_study(data, "dev", "bm25", out, model=again, seed=3, bins=4, embed=bag_of_topics,
               progress=False)
    assert again.calls == 0 and again.scored == 0
    assert json.loads((out / "swap.json").read_text()) == summary
    # the same seed elsewhere picks the same partners
    swap_study(data, "dev", "bm25", tmp_path / "twin", model=FakeLM(), seed=3, bins=4,
               embed=bag_of_topics, progress=False)
    assert (tmp_path / "twin" / "partners.json").read_text() == partners
    # another seed in the same folder is refused, naming the option
    with pytest.raises(ConfigError, match="seed 3") as e:
        swap_study(data, "dev", "bm25", out, model=FakeLM(), seed=4, bins=4, embed=bag_of_topics,
                   progress=False)
    assert e.value.option == "seed"


def test_confidence_is_each_run_s_confidence_json(synthetic, tmp_path: Path) -> None:
    data = synthetic("generation", users=3, per_user=2)
    out = tmp_path / "swap"
    swap_study(data, "dev", "bm25", out, model=FakeLM(), bins=2, embed=bag_of_topics,
               progress=False)
    rows = json.loads((out / "swap.json").read_text())["conditions"]
    for condition in conditions(2):
        stored = json.loads((out / condition / "bm25" / "confidence.json").read_text())
        c = rows[condition]["confidence"]
        assert c["mean"] == pytest.approx(np.mean(list(stored.values())))
        assert 0.0 <= c["ci"][0] <= c["mean"] <= c["ci"][1] <= 1.0
    swap_study(data, "dev", "bm25", tmp_path / "none", model=FakeLM(), bins=2,
               embed=bag_of_topics, progress=False, confidence="none")
    assert "confidence" not in (tmp_path / "none" / "swap.md").read_text()


@pytest.mark.parametrize("options, option", [
    ({"bins": 0}, "bins"), ({"retriever": "nope"}, "retriever"), ({"k": -1}, "k"),
    ({"label_mode": "guess"}, "label_mode"), ({"level": "global"}, "level"),
    ({"profile_cap": 2}, "profile_cap"), ({"split": "train"}, "data_dir")])
def test_bad_options_are_refused_before_anything_is_written(synthetic, tmp_path: Path,
                                                           options, option) -> None:
    args = {"data_dir": synthetic("generation"), "split": "dev", "retriever": "bm25",
            "out_dir": tmp_path / "o", "model": FakeLM(), "embed": bag_of_topics,
            "progress": False, **options}
    with pytest.raises(ConfigError) as e:
        swap_study(**args)
    assert e.value.option == option
    assert not (tmp_path / "o").exists()


def test_a_split_without_golds_is_refused(synthetic, tmp_path: Path) -> None:
    data = synthetic("generation")
    (data / "dev_outputs.json").unlink()
    with pytest.raises(ConfigError, match="no outputs file") as e:
        swap_study(data, "dev", "bm25", tmp_path / "o", task="LaMP_4", model=FakeLM(),
                   embed=bag_of_topics, progress=False)
    assert e.value.option == "split" and not (tmp_path / "o").exists()


def test_swap_study_through_the_cli(synthetic, tmp_path: Path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from pergen.cli import app
    from pergen.retrievers import encoder

    encoded: list[str] = []

    class FakeEncoder:  # the real MiniLM takes seconds to load: not what this test checks
        @staticmethod
        def encode(texts):
            encoded.extend(texts)
            return bag_of_topics(texts)

    monkeypatch.setattr(encoder.Encoder, "load", classmethod(lambda cls, *a, **k: FakeEncoder()))
    monkeypatch.setenv("PERGEN_CACHE", str(tmp_path / "cache"))
    data = synthetic("label", users=4, per_user=2)
    out = tmp_path / "swap"
    args = ["swap-study", "--data", str(data), "--model", "knn-vote", "--retriever", "bm25",
            "--bins", "2", "--seed", "1", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "swap.md" in result.output
    summary = json.loads((out / "swap.json").read_text())
    assert summary["metrics"] == ["accuracy", "f1"] and summary["seed"] == 1
    # every user tags by their own habit: their own items answer perfectly
    assert summary["conditions"]["own"]["metrics"]["accuracy"] == 1.0
    # the users' embeddings were kept: another study of the split embeds nothing
    assert encoded and list((tmp_path / "cache" / "swap-embeddings").glob("*.npz"))
    encoded.clear()
    again = CliRunner().invoke(app, args[:-1] + [str(tmp_path / "swap-k1"), "--k", "1"])
    assert again.exit_code == 0, again.output
    assert encoded == []
    assert (tmp_path / "swap-k1" / "partners.json").read_text() == \
        (out / "partners.json").read_text()
    bad = CliRunner().invoke(app, ["swap-study", "--data", str(data), "--model", "knn-vote",
                                   "--bins", "0", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "--bins" in bad.output and not (tmp_path / "x").exists()


def test_partners_on_real_headlines(huffpost: Path) -> None:
    """On the real HuffPost split: never the user, ranked by vector similarity, only items
    dated no later than the question's own profile, never the question's gold."""
    questions = load_questions(huffpost / "dev_questions.json")
    golds = load_outputs(huffpost / "dev_outputs.json").by_id
    population = Population(questions, TASK, hashed_words)
    swapper = Swapper(population, TASK, bins=10, seed=0, golds=golds)
    wanted = [MOST, "bin-01", "bin-05", "bin-10", RANDOM, LEAST]
    for q in questions[::8]:
        partners = swapper.partners(q, wanted)
        assert all(p.user is not None and p.user != user_key(q) for p in partners.values())
        sims = {c: p.similarity for c, p in partners.items()}
        assert sims[MOST] >= sims["bin-01"] >= sims["bin-05"] >= sims["bin-10"] >= sims[LEAST]
        assert sims[MOST] >= sims[RANDOM] >= sims[LEAST]
        cutoff = date_cutoff(q.profile)
        for p in partners.values():
            profile = swapper.profile(q, p)
            assert profile and all(i.date and i.date <= cutoff for i in profile)
            assert all(i.get("title").strip() != golds[q.id].strip() for i in profile)


def test_paired_bootstrap_by_hand() -> None:
    from pergen.reports.swapstats import _value_fn, paired_bootstrap

    mean = _value_fn("accuracy", 2)
    assert paired_bootstrap(mean, [1, 1, 1, 1], [0, 0, 0, 0], seed=0) == (1.0, 1.0, 1.0)
    assert paired_bootstrap(mean, [1, 0, 1, 0], [1, 0, 1, 0], seed=0) == (0.0, 0.0, 0.0)
    point, lo, hi = paired_bootstrap(mean, [1, 1, 0, 1, 0, 1], [0, 1, 0, 0, 0, 1], seed=0)
    assert point == pytest.approx(2 / 6) and 0.0 <= lo <= point <= hi <= 2 / 3 + 1e-9
    # macro-F1 over the task's 3 labels, whichever labels a resample happens to hold
    f1 = _value_fn("f1", 3)
    right, wrong = [[0, 0], [1, 1], [2, 2]], [[1, 0], [2, 1], [0, 2]]
    assert f1(np.array(right)) == 1.0 and f1(np.array([right, wrong])).tolist() == [1.0, 0.0]
    assert paired_bootstrap(f1, right, wrong, seed=1)[0] == 1.0
    rmse = _value_fn("rmse", 0)
    assert rmse(np.array([4.0, 0.0])) == pytest.approx(np.sqrt(2.0))
