#!/usr/bin/env bash
# RSPG evidence of bench/RESULTS.md on HuffPost (dev split, embedded SmolLM2):
#   bash bench/run_rspg.sh
# 1. per-retriever feedback on train questions, 2. RSPG-Pre and RSPG-Post selectors,
# 3. the selectors, QPP baselines and RRF on dev beside the pool and the ROPG retrievers
# (resumed from bench/run_results.sh and bench/run_ropg.sh), 4. the report. Resumable.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data}
OUT=${OUT:-runs}
TRAIN_LIMIT=${TRAIN_LIMIT:-160}
EPOCHS=${EPOCHS:-4}
LR=${LR:-5e-5}
D=$DATA/huffpost_headlines
R=$OUT/rspg/huffpost
RUN=$OUT/results/huffpost-smollm2

python -m pergen feedback --per-retriever --data "$D" --split train --limit "$TRAIN_LIMIT" \
    --k 4 --out "$R/fb-train"
for mode in pre post; do
  python -m pergen train-selector --feedback "$R/fb-train" --mode $mode --epochs "$EPOCHS" \
      --lr "$LR" --out "$R/$mode"
done
python -m pergen evaluate --data "$D" --split dev --k 4 --model smollm2 \
    --retriever none --retriever recency --retriever bm25 --retriever dense --retriever rrf \
    --retriever "ropg-kd:$OUT/ropg/huffpost/kd" --retriever "ropg-rl:$OUT/ropg/huffpost/rl" \
    --retriever "rspg-pre:$R/pre" --retriever "rspg-post:$R/post" \
    --retriever qpp-wig --retriever qpp-nqc --retriever qpp-sigma_max --retriever qpp-sigma_x \
    --out "$RUN"
python -m pergen report "$RUN"
