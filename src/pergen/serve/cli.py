"""Commands `pergen serve`, `pergen keys create` and `pergen import`.

`register(app)` adds them to pergen's typer app. FastAPI, SQLAlchemy and uvicorn are
imported inside the command bodies, so `pergen --help` stays fast and works without the
``serve`` extra.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer

from ..errors import MissingExtraError, PergenError

F = TypeVar("F", bound=Callable[..., Any])
DbOpt = typer.Option("sqlite:///pergen.db", "--db", envvar="PERGEN_DB",
                     help="sqlite:///FILE or postgresql+psycopg://USER:PASS@HOST:PORT/DB")


def _friendly(fn: F) -> F:
    """Library errors and a missing extra: one line on stderr, exit code 2."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ImportError as e:
            if isinstance(e, MissingExtraError):
                message = str(e)
            else:
                message = f"{e.name or e} is not installed: pip install 'pergen[serve]'"
            print(f"error: {message}", file=sys.stderr)
            raise typer.Exit(2) from None
        except PergenError as e:
            print(f"error: {e}", file=sys.stderr)
            raise typer.Exit(2) from None
    return wrapper  # type: ignore[return-value]


def _engines(db: str) -> Any:
    from .db import connect
    from .migrate import upgrade

    engines = connect(db)
    upgrade(engines)
    return engines


def serve(db: str = DbOpt,
          host: str = typer.Option("127.0.0.1", "--host"),
          port: int = typer.Option(8000, "--port"),
          upstream: str | None = typer.Option(None, "--upstream", help="Base URL of an OpenAI-"
                                              "compatible server, e.g. http://127.0.0.1:8080/v1 "
                                              "(default: the embedded model answers)"),
          upstream_key: str | None = typer.Option(None, "--upstream-key",
                                                  envvar="PERGEN_UPSTREAM_KEY",
                                                  help="Bearer key sent to the upstream"),
          model: str | None = typer.Option(None, "--model", help="Model name sent upstream when "
                                           "a request has none; without --upstream, the "
                                           "embedded model (default smollm2)"),
          retriever: str = typer.Option("bm25", "--retriever", help="Default retriever"),
          k: int = typer.Option(4, "--k", min=0, help="Items added to each chat request"),
          record: bool = typer.Option(False, "--record", help="Append each chat request's last "
                                      "user message to the user's profile (opt-in)"),
          embed: list[str] = typer.Option([], "--embed", help="Dense retriever(s) whose vectors "
                                          "are computed when items are added (e.g. dense)"),
          system_template: str | None = typer.Option(None, "--system-template",
                                                     help="Text added to the system message; "
                                                     "$items and user attributes as $name"),
          max_body: int = typer.Option(8 << 20, "--max-body", help="Largest request body (bytes)"),
          upstream_timeout: float = typer.Option(120.0, "--upstream-timeout",
                                                 help="Seconds to wait for the upstream"),
          log_level: str = typer.Option("info", "--log-level")) -> None:
    """Run the profile store and the personalizing OpenAI-compatible proxy."""
    _serve(db, host, port, upstream, upstream_key, model, retriever, k, record, embed,
           system_template, max_body, upstream_timeout, log_level)


@_friendly
def _serve(db: str, host: str, port: int, upstream: str | None, upstream_key: str | None,
           model: str | None, retriever: str, k: int, record: bool, embed: list[str],
           system_template: str | None, max_body: int, upstream_timeout: float,
           log_level: str) -> None:
    import uvicorn

    from .app import DEFAULT_SYSTEM_TEMPLATE, Settings, create_app
    from .retrieval import check_spec

    for spec in (retriever, *embed):
        check_spec(spec)
    settings = Settings(db=db, upstream=upstream, upstream_key=upstream_key, model=model,
                        retriever=retriever, k=k, record=record, embed=tuple(embed),
                        system_template=system_template or DEFAULT_SYSTEM_TEMPLATE,
                        max_body=max_body, upstream_timeout=upstream_timeout)
    app = create_app(settings, _engines(db))
    if upstream is None:  # load the embedded model before the first request, not during it
        from ..llm import DEFAULT_MODEL, get_model

        app.state.embedded_model = get_model(model or DEFAULT_MODEL)
    uvicorn.run(app, host=host, port=port, log_level=log_level)


def keys_create(db: str = DbOpt,
                tenant: str = typer.Option(..., "--tenant", help="Tenant name (created if new)")
                ) -> None:
    """Create an API key for a tenant. The key is printed once, as the last line."""
    _keys_create(db, tenant)


@_friendly
def _keys_create(db: str, tenant: str) -> None:
    from .keys import create_key

    key = create_key(_engines(db), tenant)
    print(f"API key for tenant {tenant!r} (shown only now; only its hash is stored):",
          file=sys.stderr, flush=True)
    print(key, flush=True)


def import_cmd(db: str = DbOpt,
               data: Path = typer.Option(..., "--data", help="Folder with {split}_questions.json"),
               split: str = typer.Option("train", "--split"),
               tenant: str = typer.Option(..., "--tenant", help="Tenant owning the users")) -> None:
    """Load a LaMP split's profiles into the store (resumable: stored ids are skipped)."""
    _import(db, data, split, tenant)


@_friendly
def _import(db: str, data: Path, split: str, tenant: str) -> None:
    from tqdm import tqdm

    from .importer import import_split
    from .keys import ensure_tenant

    engines = _engines(db)
    tenant_pk = ensure_tenant(engines, tenant)
    with tqdm(desc="questions", unit="q", file=sys.stderr) as bar:
        counts = import_split(engines, tenant_pk, data, split, bar.update)
    print(f"imported {counts.questions} questions, {counts.users} users: {counts.added} items "
          f"added, {counts.skipped} already stored", file=sys.stderr)


def register(app: typer.Typer) -> None:
    """Add `serve`, `keys create` and `import` to a typer app."""
    keys = typer.Typer(help="API keys of `pergen serve`.", no_args_is_help=True)
    keys.command("create")(keys_create)
    app.add_typer(keys, name="keys")
    app.command("serve")(serve)
    app.command("import")(import_cmd)
