"""pergen: personalize LLMs with retrieval from a user's own history.

The public verbs, the same ones the `pergen` CLI calls::

    from pergen import evaluate
    evaluate("data/LaMP_4", "dev", ["none", "bm25"], "runs/lamp4", model="smollm2")

Heavy parts (torch, transformers) load only when a dense retriever or a local model is
first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "load_questions": "pergen.data",
    "load_outputs": "pergen.data",
    "write_outputs": "pergen.data",
    "get_task": "pergen.tasks",
    "get_retriever": "pergen.retrievers",
    "get_model": "pergen.llm",
    "build_prompt": "pergen.prompts",
    "rank": "pergen.ranking",
    "evaluate": "pergen.pipeline",
    "score": "pergen.metrics",
    "collect_feedback": "pergen.feedback",
    "train_retriever": "pergen.ropg",
    "summarize": "pergen.summaries",
    "sweep": "pergen.coldstart",
    "swap_study": "pergen.swapstudy",
    "findings": "pergen.findings",
}
__all__ = ["build_prompt", "collect_feedback", "evaluate", "findings", "get_model", "get_retriever",
           "get_task", "load_outputs", "load_questions", "rank", "score", "summarize", "swap_study",
           "sweep", "train_retriever", "write_outputs"]

if TYPE_CHECKING:  # pragma: no cover
    from .coldstart import sweep
    from .data import load_outputs, load_questions, write_outputs
    from .feedback import collect_feedback
    from .findings import findings
    from .llm import get_model
    from .metrics import score
    from .pipeline import evaluate
    from .prompts import build_prompt
    from .ranking import rank
    from .retrievers import get_retriever
    from .ropg import train_retriever
    from .summaries import summarize
    from .swapstudy import swap_study
    from .tasks import get_task


def __getattr__(name: str) -> Any:
    """Import the verbs lazily so that `import pergen` stays instant."""
    if name in _EXPORTS:
        import importlib
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'pergen' has no attribute {name!r}")
