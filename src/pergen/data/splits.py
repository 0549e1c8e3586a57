"""A split of a data folder: where its files are, its task, its questions and golds.

The checks come first and speak of the folder the user gave: a folder that does not exist
or has no ``{split}_questions.json`` says exactly that, naming the splits it does have.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

from ..errors import ConfigError, DataError, DataWarning
from ..tasks import TaskSpec, get_task
from . import lamp
from .records import Question


def check_split(data_dir: str | Path, split: str) -> Path:
    """The questions file of a split, once the folder and the file are known to exist."""
    folder = Path(data_dir)
    if not folder.exists():
        raise ConfigError(f"{{option}} {folder}: no such folder", option="data_dir")
    if not folder.is_dir():
        raise ConfigError(f"{{option}} {folder}: not a folder (give the folder that holds "
                          f"{split}_questions.json)", option="data_dir")
    path = lamp.questions_path(folder, split)
    if not path.is_file():
        found = sorted(p.name.removesuffix("_questions.json")
                       for p in folder.glob("*_questions.json"))
        has = f"splits found: {', '.join(found)}" if found else "no *_questions.json in it"
        raise ConfigError(f"{{option}} {folder} has no {path.name} ({has})", option="data_dir")
    return path


def resolve_task(data_dir: str | Path, split: str, task: str | TaskSpec | None) -> TaskSpec:
    """The given task, or the one named by the split's outputs file."""
    if isinstance(task, TaskSpec):
        return task
    if task:
        return get_task(task)
    name = lamp.read_task_name(data_dir, split)
    if not name:
        where = lamp.outputs_path(data_dir, split)
        why = "has no 'task' field" if where.exists() else "does not exist"
        raise ConfigError(f"no {{option}} given and {where} {why} to take it from",
                          option="task")
    return get_task(name)


def load_split(data_dir: str | Path, split: str, limit: int | None = None,
               task: TaskSpec | None = None) -> list[Question]:
    """The (first `limit`) questions of a split; an empty file is an error, not a no-op.
    Given the `task`, the questions are also checked against it (`check_questions`)."""
    path = check_split(data_dir, split)
    questions = lamp.load_questions(path, limit)
    if not questions:
        raise DataError("no questions", file=str(path))
    if task is not None:
        check_questions(questions, task, path)
    return questions


def check_questions(questions: Sequence[Question], task: TaskSpec, path: str | Path) -> None:
    """Check questions read from `path` against what `task` reads of them, before any run.

    A profile item without one of the task's document fields (absent or null) raises
    `DataError` naming the file, the question and the field: it would be indexed as empty.
    Other fields (``date``, the output or input fields a profile view shows) are not
    required. Inputs without the task's query marker only warn (`DataWarning`, with their
    count): they still run, with the whole input as the retrieval query.
    """
    name = str(path)
    missing = [(q, item, f) for q in questions for item in q.profile
               for f in task.document_fields if f not in item.fields]
    if missing:
        q, item, f = missing[0]
        more = f" ({len(missing)} such gaps in {len({m[0].id for m in missing})} question(s))"
        raise DataError(f"profile item {item.id!r} has no {f!r} (missing or null), a document "
                        f"field of task {task.name}{more if len(missing) > 1 else ''}",
                        file=name, record=q.id, field=f"profile[{item.position}].{f}")
    marker = task.query_marker
    unmarked = [q.id for q in questions if marker and task.marked_query(q.input) is None]
    if unmarked:
        warnings.warn(DataWarning(
            f"{name}: {len(unmarked)} of {len(questions)} input(s) lack the query marker "
            f"{marker} of task {task.name} (e.g. {', '.join(unmarked[:3])}): the whole input "
            "is their retrieval query"), stacklevel=2)


def golds_for(data_dir: str | Path, split: str, questions: Sequence[Question]
              ) -> dict[str, str] | None:
    """Gold outputs of the questions in their order, or None for a split without outputs."""
    path = lamp.outputs_path(data_dir, split)
    if not path.exists():
        return None
    golds = lamp.load_outputs(path).by_id
    missing = [q.id for q in questions if q.id not in golds]
    if missing:
        raise DataError(f"no gold output for {len(missing)} question(s), e.g. {missing[:3]}",
                        file=str(path), record=missing[0])
    return {q.id: golds[q.id] for q in questions}
