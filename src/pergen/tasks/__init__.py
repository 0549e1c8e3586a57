"""Task specifications: built-in LaMP tasks and user-defined task files."""

from .spec import PROFILE_VIEWS, TaskSpec, builtin_tasks, get_task, load_task_file

__all__ = ["PROFILE_VIEWS", "TaskSpec", "builtin_tasks", "get_task", "load_task_file"]
