#!/usr/bin/env bash
# The dev-split figures of bench/RESULTS.md: embedded model, k = 4, both shared data sets.
# Resumable: every `pergen evaluate` below skips questions it already answered.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data}
OUT=${OUT:-runs/results}
H=$DATA/huffpost_headlines
T=$DATA/troll_tweets_authorship
TASK=examples/tasks/tweet_authorship.toml
ALL=(--retriever none --retriever bm25 --retriever recency --retriever dense --retriever rrf)

python -m pergen evaluate --data "$H" --split dev "${ALL[@]}" --k 4 --model smollm2 --out "$OUT/huffpost-smollm2"
python -m pergen evaluate --data "$H" --split dev --retriever none --model copy-input --out "$OUT/huffpost-copy-input"
python -m pergen evaluate --data "$H" --split dev "${ALL[@]}" --model knn --out "$OUT/huffpost-knn"
python -m pergen evaluate --data "$T" --split dev --task "$TASK" "${ALL[@]}" --k 4 --model smollm2 --out "$OUT/tweets-smollm2"
python -m pergen evaluate --data "$T" --split dev --task "$TASK" --retriever none --retriever bm25 --k 4 \
    --model smollm2 --label-mode generate --out "$OUT/tweets-smollm2-generate"
python -m pergen evaluate --data "$T" --split dev --task "$TASK" "${ALL[@]}" --k 4 \
    --model smollm2 --label-mode calibrate --out "$OUT/tweets-smollm2-calibrate"
python -m pergen evaluate --data "$T" --split dev --task "$TASK" --retriever none --retriever bm25 \
    --retriever recency --model knn --out "$OUT/tweets-knn"
python -m pergen evaluate --data "$T" --split dev --task "$TASK" --retriever none --model copy-input \
    --out "$OUT/tweets-copy-input"
python bench/bench_overhead.py --limit 40
