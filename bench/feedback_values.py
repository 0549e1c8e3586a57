"""Carry a feedback store across machines without its text (issue 22):

    python bench/feedback_values.py save STORE VALUES.jsonl
    python bench/feedback_values.py load VALUES.jsonl STORE --data DIR --split train [--task T]

`save` keeps ids and numbers only (the data set's text stays out of the repository); `load`
rebuilds the records from the data set, so `pergen feedback --out STORE` resumes after the
last pair saved. See `pergen.training.feedback_values`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pergen.training.feedback_values import load_values, save_values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("save", help="store folder -> values file (ids and numbers only)")
    s.add_argument("store", type=Path)
    s.add_argument("values", type=Path)
    ld = sub.add_parser("load", help="values file -> store folder, text from the data set")
    ld.add_argument("values", type=Path)
    ld.add_argument("store", type=Path)
    ld.add_argument("--data", type=Path, required=True)
    ld.add_argument("--split", default="train")
    ld.add_argument("--task", default=None)
    args = parser.parse_args()
    if args.command == "save":
        print(f"saved {save_values(args.store, args.values)} pairs to {args.values}")
    else:
        n = load_values(args.values, args.store, args.data, args.split, args.task)
        print(f"loaded {n} pairs into {args.store}")


if __name__ == "__main__":
    main()
