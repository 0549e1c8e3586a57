#!/usr/bin/env bash
# The test split, read once (issue 22), with what dev chose for the default model:
#   bash bench/run_test.sh huffpost|tweets
# HuffPost: dense (dev's best row, the default) beside none (the paper's no
# personalization) and the rest of the paper's pool (recency, BM25), for the oracle bounds
# and the QPP selectors; the references (copy-input, knn) come with every run.
# Tweets: RSPG-Pre (dev's best row), so the whole pool it picks from, and the same QPP.
# The selector is trained from the committed feedback (on a fresh machine; a finished
# training is kept): same recipe as bench/run_rspg.sh, seeded, so it is the model dev measured.
# Nothing here is tuned on test. Resumable: evaluate picks up where it stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data}
OUT=${OUT:-runs}
MODEL=${MODEL:-qwen2.5-coder-1.5b}
STYLE=${STYLE:-paper}
QPP=(--retriever qpp-wig --retriever qpp-nqc --retriever qpp-sigma_max --retriever qpp-sigma_x)
COMMON=(--split test --k 4 --model "$MODEL" --prompt-style "$STYLE" --confidence none --baseline dense)
case "${1:-}" in
  huffpost)
    RUN=$OUT/results/huffpost-$MODEL-test
    python -m pergen evaluate --data "$DATA/huffpost_headlines" "${COMMON[@]}" \
        --retriever none --retriever recency --retriever bm25 --retriever dense \
        "${QPP[@]}" --out "$RUN" ;;
  tweets)
    D=$DATA/troll_tweets_authorship; TASK=(--task examples/tasks/tweet_authorship.toml)
    R=$OUT/rspg/tweets-$MODEL; FB=$R/fb-train-loglik
    RUN=$OUT/results/tweets-$MODEL-calibrate-test
    [ -f "$FB/store.json" ] || python -m pergen feedback-load \
        --values "bench/feedback/tweets-$MODEL-$STYLE-rspg-loglik.jsonl" --out "$FB" \
        --data "$D" "${TASK[@]}" --split train --prompt-style "$STYLE"
    # resumes an interrupted training; a finished one is left as it is
    python -m pergen train-selector --feedback "$FB" --mode pre --epochs 3 --lr 5e-5 --out "$R/pre"
    python -m pergen evaluate --data "$D" "${TASK[@]}" "${COMMON[@]}" --label-mode calibrate \
        --retriever none --retriever recency --retriever bm25 --retriever dense \
        --retriever "rspg-pre:$R/pre" "${QPP[@]}" --out "$RUN" ;;
  *) echo "usage: $0 huffpost|tweets" >&2; exit 2 ;;
esac
python -m pergen report "$RUN"
