"""Retrieval-level ROPG figures: mean LLM feedback of each retriever's top-1 and top-4
items on held-out questions (see `pergen.ropg.analysis.retrieval_feedback`).

    python bench/ropg_retrieval.py --data DIR --split dev --out STORE \
        --retriever dense --retriever ropg-kd:FOLDER [--task T] [--signal loglik]
"""

from __future__ import annotations

import argparse

from pergen.ropg.analysis import retrieval_feedback


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--split", default="dev")
    ap.add_argument("--task")
    ap.add_argument("--out", required=True, help="feedback store folder (resumable)")
    ap.add_argument("--retriever", action="append", required=True)
    ap.add_argument("--signal", default="loglik")
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--limit", type=int)
    args = ap.parse_args()
    table = retrieval_feedback(args.data, args.split, args.retriever, args.out, model=args.model,
                               signal=args.signal, task=args.task, limit=args.limit)
    print(f"| retriever | top-1 {args.signal} | top-4 {args.signal} |")
    print("|---|---|---|")
    for name, row in table.items():
        print(f"| {name} | {row['top1']:.4f} | {row['top4']:.4f} |")


if __name__ == "__main__":
    main()
