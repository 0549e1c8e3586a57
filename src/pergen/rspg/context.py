"""What a retriever selector sees when `evaluate` runs it: the questions, the pool's
retrievers and the runs they already produced in the same run folder."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..records import Question
from ..retrievers import RankRequest, Retriever
from ..tasks import TaskSpec


@dataclass
class SelectionContext:
    questions: Sequence[Question]
    task: TaskSpec
    retrievers: dict[str, Retriever]
    runs: dict[str, Any]  # spec -> pergen.pipeline.RetrieverRun
    run_dir: Path
    with_date: bool = False

    def rank_requests(self) -> list[RankRequest]:
        from ..pipeline import rank_request
        return [rank_request(self.task, q, self.with_date) for q in self.questions]

    def journal(self, spec: str) -> dict[str, dict[str, Any]]:
        """The finished records (prompt, output, retrieved ids) of a pool retriever's run."""
        from ..pipeline import slug
        from ..storage import Journal
        return Journal(self.run_dir / slug(spec) / "journal.jsonl").read()
