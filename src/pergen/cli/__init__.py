"""The `pergen` command line: thin typer commands over the library's public verbs.

`options` declares each shared option once (its flag, help and the values listed from the
registries); `app` holds the typer app and turns library errors into one-line messages;
`run`, `train` and `studies` are the command groups. Heavy modules are imported inside
commands, so `pergen --help` starts at once.
"""

from ..serve.cli import register as _register_serve
from . import run, studies, train  # noqa: F401  (register the commands)
from .app import app

_register_serve(app)


def main() -> None:  # pragma: no cover
    app()


__all__ = ["app", "main"]
