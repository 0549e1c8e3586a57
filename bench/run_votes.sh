#!/usr/bin/env bash
# The similarity-vote figures of bench/RESULTS.md: tweets dev, no LLM, K = 4 (the default).
# `pergen evaluate` writes the run (predictions, scores, significance against `none`); the
# Python part recounts ties and margins with the library (the CLI does not print them),
# checks that its answers are the run's, tests bm25 against dense (McNemar), and adds two
# rows the CLI cannot give: MiniLM with cosine instead of the raw dot product, and other K
# with BM25. LIMIT=N recounts the first N questions only (a quick check).
# Resumable: evaluate skips questions it already answered. The dense encoder is MiniLM,
# loaded offline.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
PY=${PY:-.venv/bin/python}
DATA=${DATA:-../shared/data}/troll_tweets_authorship
OUT=${OUT:-runs/votes-tweets}
TASK=examples/tasks/tweet_authorship.toml
RETRIEVERS=(none bm25 dense dense-cos)

$PY -m pergen evaluate --data "$DATA" --split dev --task "$TASK" \
    "${RETRIEVERS[@]/#/--retriever=}" --model similarity-vote --out "$OUT"
cat "$OUT/table.md"

$PY - "$DATA" "$OUT" "$TASK" "${RETRIEVERS[@]}" <<'EOF'
import os
import sys
from pathlib import Path

import numpy as np

from pergen.data.lamp import load_outputs, load_questions
from pergen.llm import Request
from pergen.baselines.votes import SimilarityVote
from pergen.retrievers import get_retriever
from pergen.retrievers.dense import DenseRetriever
from pergen.retrievers.encoder import Encoder
from pergen.evaluation.significance import mcnemar_test
from pergen.tasks import get_task

data, out, task_path, *specs = sys.argv[1:]
task = get_task(task_path)
questions = load_questions(Path(data) / "dev_questions.json", int(os.environ.get("LIMIT", 0)) or None)
golds = load_outputs(Path(data) / "dev_outputs.json").by_id


class Shared:
    """MiniLM embeddings computed once for both dense rows: raw (pergen's `dense`, the
    Contriever recipe: dot product) or unit-length (cosine, sentence-transformers' use)."""

    memo: dict[str, np.ndarray] = {}
    encoder = None

    def __init__(self, unit: bool) -> None:
        if Shared.encoder is None:
            Shared.encoder = Encoder.load(None)
        self.unit, self.dim = unit, Shared.encoder.dim

    def encode(self, texts, batch_size=32):
        new = [t for t in dict.fromkeys(texts) if t not in Shared.memo]
        if new:
            Shared.memo.update(zip(new, Shared.encoder.encode(new, batch_size)))
        v = np.stack([Shared.memo[t] for t in texts])
        return v / np.linalg.norm(v, axis=1, keepdims=True) if self.unit else v


def vote(retriever, k=4):
    model, answers = SimilarityVote(k), []
    for i in range(0, len(questions), 8):  # the pipeline's batches
        answers += model.generate([Request(q.input, q.input, (), task, q.profile, retriever)
                                   for q in questions[i:i + 8]], 6)
    return model, answers


right, said = {}, {}
rows = [(s, get_retriever(s) if s != "dense" else DenseRetriever(Shared(False))) for s in specs]
if "dense" in specs:
    rows.append(("dense-cosine", DenseRetriever(Shared(True), name="dense-cosine")))
for spec, retriever in rows:
    model, answers = vote(retriever)
    right[spec] = [float(a == golds[q.id]) for q, a in zip(questions, answers)]
    said[spec] = answers
    same = ""
    if (Path(out) / spec / "predictions.json").exists():
        run = load_outputs(Path(out) / spec / "predictions.json").by_id
        same = f" same answers as the run: {sum(run[q.id] == a for q, a in zip(questions, answers))}"
    margins = sorted(model.margins)
    print(f"{spec}: n={model.questions} accuracy={sum(right[spec]) / len(questions):.4f} "
          f"ties={model.ties} median margin={margins[len(margins) // 2]:.4g}{same}")
first = [float(golds[q.id] == "[1]") for q in questions]  # SmolLM2 `choose`: "[1]" always
for spec in right:
    print(f"McNemar {spec} vs always-[1] (= none, = SmolLM2 choose): "
          f"p={mcnemar_test(right[spec], first):.4g}")
if "bm25" in right and "dense" in right:
    for spec in ("dense", "dense-cosine"):
        print(f"McNemar {spec} vs bm25: p={mcnemar_test(right[spec], right['bm25']):.4g}")
if "dense" in said:  # why the raw dot product misleads a vote across two queries
    larger = []
    for q in questions:
        norms = [np.linalg.norm(Shared.memo[c]) for c in task.candidates(q.input)]
        larger.append(task.labels[int(np.argmax(norms))])
    for who, answers in (("dense answer", said["dense"]), ("gold", [golds[q.id] for q in questions])):
        share = sum(a == b for a, b in zip(answers, larger)) / len(questions)
        print(f"{who} = the candidate with the larger raw embedding norm: {share:.3f}")
for k in (1, 2, 8, 16):  # K, with BM25 (seconds)
    model, answers = vote(get_retriever("bm25"), k)
    acc = sum(a == golds[q.id] for q, a in zip(questions, answers)) / len(questions)
    print(f"bm25 K={k}: accuracy={acc:.4f} ties={model.ties}")
EOF
