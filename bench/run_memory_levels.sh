#!/usr/bin/env bash
# Issue 10's figures: memory (items, summaries) and levels (user, persona, global, auto)
# with the embedded model on both shared dev sets, then the cold-start sweeps; the tables
# come from `python bench/memory_levels_table.py $OUT`. Resumable: rerun to continue.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data}
OUT=${OUT:-runs/memory-levels}
COLD_LIMIT=${COLD_LIMIT:-60}
SETS=${SETS:-huffpost tweets}
PERGEN=${PERGEN:-.venv/bin/pergen}
# The tables in bench/RESULTS.md were measured with SmolLM2 (1-3 s an answer on one core);
# MODEL=qwen2.5-coder-1.5b (the default model) takes 4-13 s.
MODEL=${MODEL:-smollm2}
# SKIP_COLD=1: no cold-start sweeps; ONLY_COLD=1: only them.
# LIMIT=N: the first N questions of each split only (a quicker, smaller-n table).
H=(--data "$DATA/huffpost_headlines" --split dev --model "$MODEL" ${LIMIT:+--limit $LIMIT})
T=(--data "$DATA/troll_tweets_authorship" --split dev --model "$MODEL" --task examples/tasks/tweet_authorship.toml
   --label-mode calibrate ${LIMIT:+--limit $LIMIT})

for set in $SETS; do
    [ -n "${ONLY_COLD:-}" ] && break
    if [ "$set" = huffpost ]; then A=("${H[@]}"); else A=("${T[@]}"); fi
    $PERGEN evaluate "${A[@]}" --retriever none --retriever bm25 --retriever recency \
        --out "$OUT/$set-items"
    for s in stats llm; do
        $PERGEN evaluate "${A[@]}" --retriever none --memory summary --summarizer "$s" \
            --out "$OUT/$set-summary-$s"
        $PERGEN evaluate "${A[@]}" --retriever bm25 --memory summary+items --summarizer "$s" \
            --out "$OUT/$set-summary+items-$s"
    done
    for level in persona global auto; do
        $PERGEN evaluate "${A[@]}" --retriever bm25 --level "$level" --out "$OUT/$set-level-$level"
    done
done
[ -n "${SKIP_COLD:-}" ] && exit 0
for set in $SETS; do
    if [ "$set" = huffpost ]; then A=("${H[@]}"); else A=("${T[@]}"); fi
    $PERGEN evaluate "${A[@]}" --limit "$COLD_LIMIT" --retriever bm25 --level user --level persona \
        --level global --level auto --profile-cap 0 --profile-cap 1 --profile-cap 2 \
        --profile-cap 4 --profile-cap 8 --profile-cap 16 --profile-cap all --out "$OUT/$set-cold"
done
