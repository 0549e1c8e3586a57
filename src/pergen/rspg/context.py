"""What a retriever selector sees when `evaluate` runs it: the questions, the pool's
retrievers and the runs they already produced in the same run folder."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..data.records import Question
from ..retrievers import RankRequest, Retriever
from ..run.folder import RetrieverRun, journal
from ..tasks import TaskSpec


@dataclass
class SelectionContext:
    """`requests[i]` is what the pool's retrievers ranked for `questions[i]`."""

    questions: Sequence[Question]
    requests: Sequence[RankRequest]
    task: TaskSpec
    retrievers: dict[str, Retriever]
    runs: dict[str, RetrieverRun]
    run_dir: Path

    def journal(self, spec: str) -> dict[str, dict[str, Any]]:
        """The finished records (prompt, output, retrieved ids) of a pool retriever's run."""
        return journal(self.run_dir, spec)
