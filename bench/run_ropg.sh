#!/usr/bin/env bash
# ROPG evidence of bench/RESULTS.md (dev split, embedded SmolLM2), for one data set:
#   bash bench/run_ropg.sh huffpost|tweets
# Every step is resumable: feedback stores, training folders and evaluate runs pick up
# where they stopped. Training holds out 10% of the train questions for model selection;
# the dev split is only used for the final figures below.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data}
OUT=${OUT:-runs}
# The LLM that gives feedback and answers; the tables were measured with SmolLM2.
MODEL=${MODEL:-smollm2}
# The prompt style of feedback and answers (issue 22 measured paper as cheap as chat with
# the 1.5B, and the default: STYLE=paper).
STYLE=${STYLE:-auto}
# Where the one item goes in a feedback prompt: after the question, one question's prompts
# share their start and llama.cpp evaluates it once (bench/bench_feedback_cost.py).
POSITION=${POSITION:-before}
TRAIN_LIMIT=${TRAIN_LIMIT:-300}
EPOCHS=${EPOCHS:-4}
LR=${LR:-1e-4}
case "${1:-huffpost}" in
  huffpost) D=$DATA/huffpost_headlines; TASK=(); EVAL=(); RUN=$OUT/results/huffpost-$MODEL ;;
  tweets) D=$DATA/troll_tweets_authorship; TASK=(--task examples/tasks/tweet_authorship.toml)
          EVAL=(--label-mode calibrate); RUN=$OUT/results/tweets-$MODEL-calibrate ;;
  *) echo "usage: $0 huffpost|tweets" >&2; exit 2 ;;
esac
R=$OUT/ropg/${1:-huffpost}-$MODEL

# 1. per-item feedback: top 16 dense items of each train question, one per prompt.
#    The values (ids and numbers, no text) are kept in the repository, so a fresh machine
#    resumes where the last one stopped: loaded before, saved on any exit.
VALUES=bench/feedback/${1:-huffpost}-$MODEL-$STYLE-$POSITION-loglik.jsonl
if [ -f "$VALUES" ] && [ ! -f "$R/fb-train-loglik/store.json" ]; then
  python -m pergen feedback-load --values "$VALUES" --out "$R/fb-train-loglik" --data "$D" "${TASK[@]}" --split train
fi
save_values() { [ -f "$R/fb-train-loglik/store.json" ] && python -m pergen feedback-save --store "$R/fb-train-loglik" --out "$VALUES"; }
trap save_values EXIT
python -m pergen feedback --model "$MODEL" --data "$D" "${TASK[@]}" --split train --limit "$TRAIN_LIMIT" \
    --signal loglik --depth "${DEPTH:-16}" --prompt-style "$STYLE" \
    --profile-position "$POSITION" --out "$R/fb-train-loglik"
save_values; trap - EXIT
[ "${FEEDBACK_ONLY:-0}" = 1 ] && exit 0  # a session that only has time for the feedback
# 2. ROPG-KD and ROPG-RL from the same feedback
for m in kd rl; do
  python -m pergen train-retriever --feedback "$R/fb-train-loglik" --method $m \
      --epochs "$EPOCHS" --lr "$LR" --out "$R/$m"
done
# 3. end to end on dev, k = 4 (dense is resumed from bench/run_results.sh's run);
#    significance marks against zero-shot dense. No confidence: it is an extra scoring pass
#    per generated answer, and no ROPG figure reads it. BM25 last, so an interrupted run
#    has the ROPG rows first (every retriever's journal resumes).
python -m pergen evaluate --data "$D" "${TASK[@]}" --split dev --k 4 --model "$MODEL" --prompt-style "$STYLE" "${EVAL[@]}" \
    --retriever none --retriever dense --retriever "ropg-kd:$R/kd" --retriever "ropg-rl:$R/rl" \
    ${WITH_BM25:+--retriever bm25} --confidence none --baseline dense --out "$RUN"
# 4. retrieval level: mean feedback of each retriever's top-1 / top-4 items on dev (with the
#    1.5B about 2 s per item: RETRIEVAL_LEVEL=0 skips it, DEV_LIMIT=N cuts the questions)
[ "${RETRIEVAL_LEVEL:-1}" = 1 ] || exit 0
python bench/ropg_retrieval.py --model "$MODEL" --data "$D" "${TASK[@]}" --split dev --out "$R/fb-dev-loglik" \
    --retriever dense --retriever "ropg-kd:$R/kd" --retriever "ropg-rl:$R/rl" ${DEV_LIMIT:+--limit "$DEV_LIMIT"}
