"""`similarity-vote` and `knn-vote` on small synthetic users written here.

BM25 (no model to load) and a fake retriever whose scores are set by hand, so that every
vote can be checked against a hand computation.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pytest

from pergen.baselines.votes import KnnVote, SimilarityVote
from pergen.data.records import ProfileItem, Scored
from pergen.errors import ConfigError, TaskError
from pergen.llm import Generator, Request, WhitespaceTokenizer, get_model
from pergen.retrievers import RankRequest, get_retriever, sort_scored
from pergen.run.pipeline import evaluate
from pergen.tasks import TaskSpec, get_task

TWEET_TASK = Path(__file__).resolve().parents[1] / "examples" / "tasks" / "tweet_authorship.toml"
TWEETS = get_task(TWEET_TASK)
TAGS = get_task("LaMP_2")
RATINGS = get_task("LaMP_3")

# Profiles of five or six tweets: with fewer, BM25's IDF (rank_bm25's) is 0 or negative
# for most words and says little.
CATS = ["my cat sleeps on the sofa all day", "feeding the kitten tuna again",
        "vet visit for whiskers on friday", "new scratching post arrived",
        "coffee first then emails", "rainy monday blues"]
SPORTS = ["what a goal in the derby tonight", "the crowd was loud at the stadium",
          "training run before work", "new boots for the season", "pizza night with friends"]


class FakeRetriever:
    """Scores set by hand per document text (0 for any other); a plain `rank`, no
    `rank_many`, so the votes' per-request path is exercised too."""

    name = "fake"

    def __init__(self, scores: Mapping[str, float]) -> None:
        self.scores = scores
        self.queries: list[str] = []

    def rank(self, request: RankRequest) -> list[Scored]:
        self.queries.append(request.query)
        return sort_scored(request.profile, [self.scores.get(d, 0.0) for d in request.docs])


def profile(texts: list[str], field: str = "text", **extra: list[str]) -> tuple[ProfileItem, ...]:
    return tuple(ProfileItem(f"p{i}", {field: t, **{k: v[i] for k, v in extra.items()}}, i)
                 for i, t in enumerate(texts))


def choice(first: str, second: str) -> str:
    return ("Which of the following two tweets was written by this user? Just answer with "
            f'[1] or [2] without explanation. [1]: "{first}" [2]: "{second}"')


def request(task: TaskSpec, text: str, items: tuple[ProfileItem, ...], retriever=None) -> Request:
    return Request(text, text, (), task, items, retriever)


# ---------------------------------------------------------------- similarity-vote


def test_similarity_vote_picks_the_candidate_that_shares_the_users_words():
    bm25 = get_retriever("bm25")
    model = get_model("similarity-vote")
    cats, sports = profile(CATS), profile(SPORTS)
    reqs = [request(TWEETS, choice("stocks fell sharply today", "the cat stole my tuna"), cats, bm25),
            request(TWEETS, choice("the cat stole my tuna", "stocks fell sharply today"), cats, bm25),
            request(TWEETS, choice("the cat stole my tuna", "the derby goal was loud"), sports, bm25)]
    assert model.generate(reqs, 6) == ["[2]", "[1]", "[2]"]
    assert model.ties == 0 and model.questions == 3
    assert all(m > 0 for m in model.margins)


def test_similarity_vote_score_is_the_mean_of_the_top_k_scores():
    docs = ["a", "b", "c", "d"]
    fake = FakeRetriever({"a": 4.0, "b": 1.0, "c": 2.0, "d": 0.5})
    model = SimilarityVote(vote_k=2)
    req = request(TWEETS, choice("first tweet", "second tweet"), profile(docs), fake)
    # Both candidates see the same scores: top 2 are 4 and 2, mean 3.
    assert model.candidate_scores([req]) == [[3.0, 3.0]]
    assert fake.queries == ["first tweet", "second tweet"]  # each candidate is a query
    assert SimilarityVote(vote_k=10).candidate_scores([req]) == [[7.5 / 4, 7.5 / 4]]


def test_a_tie_goes_to_the_first_candidate_and_is_counted():
    model = get_model("similarity-vote", vote_k=4)
    cats = profile(CATS)
    # No word of either candidate is in the profile: BM25 scores every item 0 for both.
    no_overlap = choice("stocks fell sharply", "rain expected tomorrow")
    reqs = [request(TWEETS, no_overlap, cats, get_retriever("bm25")),
            request(TWEETS, choice("the cat again", "rain expected"), cats, get_retriever("none")),
            request(TWEETS, choice("the cat again", "rain expected"), cats, None),
            request(TWEETS, choice("the cat again", "rain expected"), (), get_retriever("bm25")),
            request(TWEETS, "no candidates in this input", cats, get_retriever("bm25"))]
    assert model.generate(reqs, 6) == ["[1]"] * 5
    assert model.ties == 5 and model.margins == [0.0] * 5


def test_similarity_vote_batches_ranking_per_retriever():
    class Batching(FakeRetriever):
        def __init__(self, scores: Mapping[str, float]) -> None:
            super().__init__(scores)
            self.calls = 0

        def rank_many(self, requests: list[RankRequest]) -> list[list[Scored]]:
            self.calls += 1
            return [self.rank(r) for r in requests]

    one, other = Batching({"x": 1.0}), Batching({"y": 1.0})
    items = profile(["x", "y"])
    reqs = [request(TWEETS, choice("a", "b"), items, one) for _ in range(3)]
    reqs.insert(1, request(TWEETS, choice("c", "d"), items, other))
    SimilarityVote().generate(reqs, 6)
    assert (one.calls, other.calls) == (1, 1)
    assert one.queries == ["a", "b"] * 3 and other.queries == ["c", "d"]


def test_lamp1_inputs_have_candidates():
    text = ('For an author who has written the paper with the title "Deep nets", which '
            'reference is related? Just answer with [1] or [2] without explanation. '
            '[1]: "Graph kernels" [2]: "A "quoted" title"')
    assert get_task("LaMP_1").candidates(text) == ["Graph kernels", 'A "quoted" title']
    assert get_task("LaMP_4").candidates(text) == []


def test_candidates_regex_is_validated():
    base = dict(name="t", item_template="$text", prompt_template="$profile $input",
                document_fields=("text",), output_fields=("text",))
    with pytest.raises(TaskError, match="candidates_regex needs a 'labels' list"):
        TaskSpec(**base, candidates_regex="(x)")
    with pytest.raises(TaskError, match="bad candidates_regex"):
        TaskSpec(**base, candidates_regex="(", labels=("a",))


# ---------------------------------------------------------------- knn-vote


def test_rating_vote_equals_a_hand_computation():
    texts = ["great blender", "ok blender", "broke in a week", "fine toaster"]
    items = profile(texts, score=["5", "3", "1", "2"])
    fake = FakeRetriever(dict(zip(texts, [4.0, 3.0, 2.0, 1.0])))
    req = request(RATINGS, "What is the score of the following review? review: a blender",
                  items, fake)
    # Weights: score minus the profile's lowest (1.0): 3, 2, 1 for the top 3.
    # (5*3 + 3*2 + 1*1) / 6 = 22/6 = 3.67 -> "4".
    model = KnnVote(vote_k=3)
    assert model.generate([req], 4) == ["4"]
    assert fake.queries == ["a blender"]  # the task's query, not the whole input
    assert model.margins[0] == pytest.approx(0.5 - abs(22 / 6 - 4))
    # Top 2: (5*3 + 3*2) / 5 = 4.2 -> "4"; top 1: "5".
    assert KnnVote(vote_k=2).generate([req], 4) == ["4"]
    assert KnnVote(vote_k=1).generate([req], 4) == ["5"]


def test_rating_vote_rounds_half_up():
    texts = ["a", "b", "c"]
    items = profile(texts, score=["4", "1", "5"])
    # Weights 2 and 2 (lowest score 1 is item c's): mean (4 + 1) / 2 = 2.5 -> "3" (round(2.5)
    # would give 2).
    fake = FakeRetriever({"a": 3.0, "b": 3.0, "c": 1.0})
    assert KnnVote(vote_k=2).generate([request(RATINGS, "review: x", items, fake)], 4) == ["3"]


def test_label_vote_is_weighted_by_score():
    texts = ["space ship", "car chase", "gun fight", "laser duel", "kissing"]
    items = profile(texts, field="description",
                    tag=["sci-fi", "action", "action", "sci-fi", "romance"])
    fake = FakeRetriever(dict(zip(texts, [6.0, 3.0, 3.0, 1.5, 1.0])))
    req = request(TAGS, "Which tag? description: a space chase", items, fake)
    # Top 3, weights minus the lowest (1.0): sci-fi 5, action 2 + 2 = 4: sci-fi wins though
    # action has more votes; margin (5 - 4) / 9.
    model = KnnVote(vote_k=3)
    assert model.generate([req], 8) == ["sci-fi"]
    assert model.margins == [pytest.approx(1 / 9)]
    # Top 4: sci-fi 5 + .5 = 5.5 against action 4.
    assert KnnVote(vote_k=4).generate([req], 8) == ["sci-fi"]
    # Unweighted scores flip it: action 2 items, sci-fi 1, with equal weights.
    flat = FakeRetriever(dict(zip(texts, [2.0, 2.0, 2.0, 1.0, 1.0])))
    assert KnnVote(vote_k=3).generate([request(TAGS, "description: x", items, flat)], 8) == [
        "action"]


def test_knn_vote_falls_back_to_the_users_prior():
    items = profile(["a", "b", "c"], field="description", tag=["comedy", "action", "action"])
    ratings = profile(["a", "b", "c"], score=["5", "4", "4"])  # mean 4.33 -> "4"
    model = KnnVote()
    reqs = [request(TAGS, "description: q", items, get_retriever("none")),  # nothing retrieved
            request(TAGS, "description: q", items, None),
            request(TAGS, "description: q", items, get_retriever("bm25")),  # all scores 0
            request(TAGS, "description: q", (), get_retriever("bm25")),  # empty profile
            request(RATINGS, "review: q", ratings, get_retriever("none")),
            request(RATINGS, "review: q", (), get_retriever("none"))]  # middle of the scale
    assert model.generate(reqs, 8) == ["action", "action", "action", "sci-fi", "4", "3"]
    assert model.priors == 6


def test_knn_vote_with_bm25_follows_the_matching_item():
    texts = ["a spaceship crew lost on mars", "two cops chase a thief", "a robot on mars"]
    items = profile(texts, field="description", tag=["sci-fi", "action", "sci-fi"])
    req = request(TAGS, "description: astronauts stranded on mars", items,
                  get_retriever("bm25"))
    assert KnnVote(vote_k=2).generate([req], 8) == ["sci-fi"]


# ---------------------------------------------------------------- options and refusals


def test_specs_options_and_protocol():
    for name, cls in (("similarity-vote", SimilarityVote), ("knn-vote", KnnVote)):
        model = get_model(name, batch_size=8)  # options for real models are ignored
        assert isinstance(model, cls) and isinstance(model, Generator)
        assert isinstance(model.tokenizer, WhitespaceTokenizer)
        assert model.vote_k == 4 and model.name == f"{name}:4"
        assert get_model(f"{name}:7").vote_k == 7
        assert get_model(name, vote_k=2).vote_k == 2
        assert get_model(model.name).vote_k == 4  # the name is a spec that round-trips
        with pytest.raises(ConfigError, match="at least 1"):
            get_model(f"{name}:0")
        with pytest.raises(ConfigError, match="whole number"):
            get_model(f"{name}:many")


def test_similarity_vote_refuses_a_task_without_candidates():
    model = get_model("similarity-vote")
    with pytest.raises(ConfigError, match="similarity-vote needs a task whose input holds "
                                          "candidates .*task LaMP_4 has none"):
        model.check_task(get_task("LaMP_4"))
    with pytest.raises(ConfigError, match="LaMP_2"):
        model.check_task(TAGS)
    model.check_task(TWEETS)
    model.check_task(get_task("LaMP_1"))
    with pytest.raises(ConfigError, match="candidates"):  # misuse past the check
        model.generate([request(get_task("LaMP_4"), "article: x", profile(CATS))], 8)


def test_knn_vote_refuses_generation_and_candidate_tasks():
    model = get_model("knn-vote")
    with pytest.raises(ConfigError, match="knn-vote needs a task with labels .*LaMP_4"):
        model.check_task(get_task("LaMP_4"))
    with pytest.raises(ConfigError, match=r"does not apply to task tweet_authorship: its "
                                          r"labels \['\[1\]', '\[2\]'\] name candidates"):
        model.check_task(TWEETS)
    with pytest.raises(ConfigError, match="LaMP_1"):
        model.check_task(get_task("LaMP_1"))
    model.check_task(TAGS)
    model.check_task(RATINGS)
    with pytest.raises(ConfigError, match="does not apply"):
        model.generate([request(TWEETS, choice("a", "b"), profile(CATS))], 6)


# ---------------------------------------------------------------- end to end


def write_split(folder: Path, questions: list[dict], golds: list[str], task: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dev_questions.json").write_text(json.dumps(questions), encoding="utf-8")
    (folder / "dev_outputs.json").write_text(json.dumps({"task": task, "golds": [
        {"id": q["id"], "output": g} for q, g in zip(questions, golds)]}), encoding="utf-8")
    return folder


def test_evaluate_end_to_end_with_bm25_and_none(tmp_path: Path):
    users = {"cats": CATS, "sports": SPORTS}
    questions, golds = [], []
    # Four questions per user: the user's candidate alternates between [1] and [2].
    mine = {"cats": ["whiskers ate tuna", "my kitten on the sofa", "vet says whiskers is fine",
                     "new scratching post for the kitten"],
            "sports": ["derby goal", "loud crowd at the stadium", "new boots for training",
                       "goal of the season"]}
    for user, texts in users.items():
        for i, tweet in enumerate(mine[user]):
            other = "stocks and bonds rallied"
            pair = (tweet, other) if i % 2 == 0 else (other, tweet)
            questions.append({"id": f"{user}-{i}", "input": choice(*pair), "profile": [
                {"id": f"{user}-p{j}", "text": t, "date": f"2020-01-0{j + 1}"}
                for j, t in enumerate(texts)]})
            golds.append("[1]" if i % 2 == 0 else "[2]")
    data = write_split(tmp_path / "data", questions, golds, "tweet_authorship")
    model = get_model("similarity-vote")
    runs = evaluate(data, "dev", ["none", "bm25"], tmp_path / "out", task=str(TWEET_TASK),
                    model=model, progress=False)
    assert runs["bm25"].metrics["accuracy"] == 1.0
    assert runs["none"].metrics["accuracy"] == 0.5  # every answer "[1]"
    assert set(runs["none"].predictions.values()) == {"[1]"}
    assert model.questions == 16 and model.ties == 8  # the none run is all ties
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["bm25"]["accuracy"] == 1.0
    assert (tmp_path / "out" / "bm25" / "predictions.json").exists()


def test_evaluate_knn_vote_on_a_rating_task(tmp_path: Path):
    # One user who loves blenders (5) and hates toasters (1); the profile's mean is 3.
    reviews = [("this blender is great", "5"), ("my blender crushes ice", "5"),
               ("toaster burnt the bread", "1"), ("toaster broke at once", "1"),
               ("kettle is fine", "3"), ("the lamp works", "3")]
    texts = ["a new blender for smoothies", "another toaster that burnt toast"]
    questions = [{"id": f"q{i}", "input": f"What is the score of the following review on a "
                  f"scale of 1 to 5? review: {t}", "profile": [
                      {"id": f"p{j}", "text": r, "score": s} for j, (r, s) in enumerate(reviews)]}
                 for i, t in enumerate(texts)]
    data = write_split(tmp_path / "data", questions, ["5", "1"], "LaMP_3")
    runs = evaluate(data, "dev", ["none", "bm25"], tmp_path / "out", task="LaMP_3",
                    model="knn-vote:2", progress=False)
    assert runs["bm25"].predictions == {"q0": "5", "q1": "1"}
    assert runs["bm25"].metrics["mae"] == 0.0
    assert runs["none"].predictions == {"q0": "3", "q1": "3"}  # the prior: mean rating 3
    assert runs["none"].metrics["mae"] == 2.0
