"""The typer app and the one place library errors become CLI messages.

Library errors (`PergenError`) become a one-line message that names the CLI option the
user typed (not the Python parameter; `options.FLAGS`, filled where each option is
declared) and exit code 2; an interrupt says how to resume.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import TypeVar

import typer
from rich.console import Console
from rich.markup import escape as rich_escape

from ..errors import DataWarning, PergenError
from .options import FLAGS

app = typer.Typer(help="Personalize LLMs with retrieval from a user's own history (LaMP).",
                  no_args_is_help=True, add_completion=False)
err = Console(stderr=True)
out = Console()
F = TypeVar("F", bound=Callable[..., object])


def friendly(fn: F) -> F:
    """Turn library errors into a clear message and exit code 2, without a traceback."""
    @functools.wraps(fn)
    def wrapper(*args: object, **kwargs: object) -> object:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("always", DataWarning)
                warnings.showwarning = _show
                return fn(*args, **kwargs)
        except PergenError as e:
            option = e.option or ""
            message = e.render(FLAGS.get(option, f"--{option.replace('_', '-')}"))
            err.print("[bold red]error:[/]", rich_escape(message), highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            err.print("interrupted: finished work is saved; run the same command to resume")
            raise typer.Exit(130) from None
    return wrapper  # type: ignore[return-value]


_SHOW = warnings.showwarning


def _show(message: Warning | str, category: type[Warning], filename: str, lineno: int,
          file: object = None, line: str | None = None) -> None:
    """A data warning as one line, when it happens; any other as Python shows it."""
    if issubclass(category, DataWarning):
        err.print("[bold yellow]warning:[/]", rich_escape(str(message)), highlight=False,
                  soft_wrap=True)
    else:
        _SHOW(message, category, filename, lineno, file, line)  # type: ignore[arg-type]


def say(text: str) -> None:
    """A line on stderr, markup-free (paths and specs may hold brackets)."""
    err.print(rich_escape(text), highlight=False, soft_wrap=True)
