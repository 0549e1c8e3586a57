"""``python -m pergen.serve serve|keys|import``: the service commands on their own."""

import typer

from .cli import register

app = typer.Typer(no_args_is_help=True, add_completion=False)
register(app)
app()
