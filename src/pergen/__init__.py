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
    "load_questions": "pergen.data.lamp",
    "load_outputs": "pergen.data.lamp",
    "write_outputs": "pergen.data.lamp",
    "get_task": "pergen.tasks",
    "get_retriever": "pergen.retrievers",
    "get_model": "pergen.llm",
    "build_prompt": "pergen.prompts.templates",
    "rank": "pergen.run.ranking",
    "evaluate": "pergen.run.pipeline",
    "score": "pergen.evaluation.metrics",
    "collect_feedback": "pergen.training.feedback",
    "train_retriever": "pergen.ropg",
    "summarize": "pergen.memory.summaries",
    "sweep": "pergen.studies.coldstart",
    "swap_study": "pergen.studies.swap",
    "findings": "pergen.studies.findings",
}
__all__ = ["build_prompt", "collect_feedback", "evaluate", "findings", "get_model", "get_retriever",
           "get_task", "load_outputs", "load_questions", "rank", "score", "summarize", "swap_study",
           "sweep", "train_retriever", "write_outputs"]

if TYPE_CHECKING:  # pragma: no cover
    from .data.lamp import load_outputs, load_questions, write_outputs
    from .evaluation.metrics import score
    from .llm import get_model
    from .memory.summaries import summarize
    from .prompts.templates import build_prompt
    from .retrievers import get_retriever
    from .ropg import train_retriever
    from .run.pipeline import evaluate
    from .run.ranking import rank
    from .studies.coldstart import sweep
    from .studies.findings import findings
    from .studies.swap import swap_study
    from .tasks import get_task
    from .training.feedback import collect_feedback


def __getattr__(name: str) -> Any:
    """Import the verbs lazily so that `import pergen` stays instant."""
    if name in _EXPORTS:
        import importlib
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'pergen' has no attribute {name!r}")
