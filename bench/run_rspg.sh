#!/usr/bin/env bash
# RSPG evidence of bench/RESULTS.md (dev split, embedded SmolLM2), for one data set:
#   bash bench/run_rspg.sh huffpost|tweets
# 1. per-retriever feedback on train questions, 2. RSPG selectors, 3. the selectors, QPP
# baselines and RRF on dev beside the pool and the ROPG retrievers (resumed from
# bench/run_results.sh and bench/run_ropg.sh), 4. the report. Resumable.
# Tweets: SmolLM2 answers "[1]" to every prompt under `choose`, so the metric would be the
# same for every retriever; its feedback is the gold label's log-likelihood instead, which
# only RSPG-Pre can learn from (Post learns from answers).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data}
OUT=${OUT:-runs}
# The LLM that gives feedback and answers; the tables were measured with SmolLM2.
MODEL=${MODEL:-smollm2}
# The prompt style of feedback and answers (issue 22: chat with the 1.5B, the cheaper one).
STYLE=${STYLE:-auto}
TRAIN_LIMIT=${TRAIN_LIMIT:-100}
EPOCHS=${EPOCHS:-3}
LR=${LR:-5e-5}
# RRF=0 leaves RRF out of the dev run (with the 1.5B, 240 more answers at ~7 s each).
RRF=${RRF:-1}
case "$RRF" in 1) FUSED=(--retriever rrf) ;; 0) FUSED=() ;;
  *) echo "RRF=$RRF: expected 0 (leave RRF out) or 1 (the default)" >&2; exit 2 ;; esac
case "${1:-huffpost}" in
  huffpost) D=$DATA/huffpost_headlines; TASK=(); EVAL=(); SIGNAL=metric; MODES=(pre post)
            RUN=$OUT/results/huffpost-$MODEL ;;
  tweets) D=$DATA/troll_tweets_authorship; TASK=(--task examples/tasks/tweet_authorship.toml)
          EVAL=(--label-mode calibrate); SIGNAL=loglik; MODES=(pre)
          RUN=$OUT/results/tweets-$MODEL-calibrate ;;
  *) echo "usage: $0 huffpost|tweets" >&2; exit 2 ;;
esac
NAME=${1:-huffpost}
R=$OUT/rspg/$NAME-$MODEL
FB=$R/fb-train; [ "$SIGNAL" = metric ] || FB=$R/fb-train-$SIGNAL

# A loglik store's values (ids and numbers) are kept in the repository, so a fresh machine
# resumes where the last one stopped; a metric store is not (RSPG-Post needs its answers).
VALUES=bench/feedback/$NAME-$MODEL-$STYLE-rspg-$SIGNAL.jsonl
save_values() { [ -f "$FB/store.json" ] && python -m pergen feedback-save --store "$FB" --out "$VALUES"; }
if [ "$SIGNAL" = loglik ]; then
  if [ -f "$VALUES" ] && [ ! -f "$FB/store.json" ]; then
    python -m pergen feedback-load --values "$VALUES" --out "$FB" --data "$D" "${TASK[@]}" \
        --split train --prompt-style "$STYLE"
  fi
  trap save_values EXIT
fi
python -m pergen feedback --model "$MODEL" --per-retriever --signal "$SIGNAL" --data "$D" "${TASK[@]}" \
    --split train --limit "$TRAIN_LIMIT" --k 4 --prompt-style "$STYLE" --out "$FB"
if [ "$SIGNAL" = loglik ]; then save_values; trap - EXIT; fi
[ "${FEEDBACK_ONLY:-0}" = 1 ] && exit 0  # a session that only has time for the feedback
SELECTORS=()
for mode in "${MODES[@]}"; do
  python -m pergen train-selector --feedback "$FB" --mode "$mode" --epochs "$EPOCHS" \
      --lr "$LR" --out "$R/$mode"
  SELECTORS+=(--retriever "rspg-$mode:$R/$mode")
done
python -m pergen evaluate --data "$D" "${TASK[@]}" --split dev --k 4 --model "$MODEL" --prompt-style "$STYLE" "${EVAL[@]}" \
    --retriever none --retriever recency --retriever bm25 --retriever dense "${FUSED[@]}" \
    --retriever "ropg-kd:$OUT/ropg/$NAME-$MODEL/kd" --retriever "ropg-rl:$OUT/ropg/$NAME-$MODEL/rl" \
    "${SELECTORS[@]}" \
    --retriever qpp-wig --retriever qpp-nqc --retriever qpp-sigma_max --retriever qpp-sigma_x \
    --confidence none --baseline dense --out "$RUN"
python -m pergen report "$RUN"
