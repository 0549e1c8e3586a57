"""Commands `pergen serve`, `pergen keys create|list|revoke|rotate` and `pergen import`.

`register(app)` adds them to pergen's typer app. FastAPI, SQLAlchemy and uvicorn are
imported inside the command bodies, so `pergen --help` stays fast and works without the
``serve`` extra.
"""

from __future__ import annotations

import functools
import logging.config
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer

from ..errors import ConfigError, MissingExtraError, PergenError

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
                                           "embedded model (default: pergen's default model, "
                                           "qwen2.5-coder-1.5b)"),
          retriever: list[str] = typer.Option(
              [], "--retriever", help="A retriever requests may name, as NAME=SPEC or SPEC "
              "(e.g. bm25, dense=dense:/models/minilm); repeat for several; the first is the "
              "default. Each is loaded once at startup; requests can name no other. "
              "Default: bm25 and recency"),
          k: int = typer.Option(4, "--k", min=0, max=100, help="Items added to each chat request"),
          max_length: int = typer.Option(512, "--max-length", min=16, help="Words of items (and "
                                         "summary) injected into a chat request, at most"),
          memory: str | None = typer.Option(None, "--memory", help="summary | summary+items: "
                                            "inject the user's summary (computed after writes)"),
          record: bool = typer.Option(False, "--record", help="Append each chat request's last "
                                      "user message to the user's profile (opt-in)"),
          system_template: str | None = typer.Option(None, "--system-template",
                                                     help="Text added to the system message; "
                                                     "$items and user attributes as $name"),
          max_body: int = typer.Option(8 << 20, "--max-body", help="Largest request body (bytes)"),
          upstream_timeout: float = typer.Option(120.0, "--upstream-timeout",
                                                 help="Seconds to wait for the upstream"),
          dense_wait: float = typer.Option(0.25, "--dense-wait", min=0.0, help="Seconds a dense "
                                           "request waits for its user's items to be encoded "
                                           "before answering from bm25"),
          encode_batch: int = typer.Option(8, "--encode-batch", min=1, help="Texts per batch of "
                                           "the background encoder (what a dense query may wait "
                                           "behind)"),
          log_level: str = typer.Option("info", "--log-level"),
          log_format: str = typer.Option("text", "--log-format", help="text | json")) -> None:
    """Run the profile store and the personalizing OpenAI-compatible proxy."""
    from .http import Settings

    settings = Settings(db=db, upstream=upstream, upstream_key=upstream_key, model=model,
                        retrievers=tuple(retriever) or Settings.retrievers, k=k, record=record,
                        system_template=system_template or Settings.system_template,
                        max_body=max_body, upstream_timeout=upstream_timeout,
                        max_length=max_length, memory=memory, dense_wait=dense_wait,
                        encode_batch=encode_batch)
    _serve(settings, host, port, log_level, log_format)


@_friendly
def _serve(settings: Any, host: str, port: int, log_level: str, log_format: str) -> None:
    import uvicorn

    from .app import create_app
    from .logs import FORMATS, log_config
    from .memory import MODES

    if log_format not in FORMATS:
        raise ConfigError(f"--log-format must be one of {', '.join(FORMATS)}")
    if settings.memory is not None and settings.memory not in MODES:
        raise ConfigError(f"--memory must be one of {', '.join(MODES)}")
    logging.config.dictConfig(log_config(log_level, log_format))
    app = create_app(settings, _engines(settings.db))
    if settings.upstream is None:  # load the embedded model before the first request
        from ..llm import DEFAULT_MODEL, get_model

        app.state.embedded_model = get_model(settings.model or DEFAULT_MODEL)
    uvicorn.run(app, host=host, port=port, log_level=log_level,
                log_config=log_config(log_level, log_format))


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


def keys_list(db: str = DbOpt,
              tenant: str | None = typer.Option(None, "--tenant", help="Only this tenant's")
              ) -> None:
    """List API keys: prefix, tenant, created, revoked (never the key itself)."""
    _keys_list(db, tenant)


@_friendly
def _keys_list(db: str, tenant: str | None) -> None:
    from .keys import list_keys

    for k in list_keys(_engines(db), tenant):
        revoked = k.revoked_at.isoformat(timespec="seconds") if k.revoked_at else "active"
        print(f"{k.prefix}\t{k.tenant}\t{k.created_at.isoformat(timespec='seconds')}\t{revoked}")


def keys_revoke(key: str = typer.Argument(..., help="The key's prefix as `keys list` shows it "
                                          "(at least 8 characters), or the whole key"),
                db: str = DbOpt) -> None:
    """Revoke a key: refused at once by every `pergen serve` sharing the database."""
    _keys_revoke(db, key)


@_friendly
def _keys_revoke(db: str, key: str) -> None:
    from .keys import revoke

    print(f"revoked {revoke(_engines(db), key)}", file=sys.stderr)


def keys_rotate(key: str = typer.Argument(..., help="The key to replace: prefix or whole key"),
                db: str = DbOpt) -> None:
    """A new key for the same tenant; the old one is revoked. The new key is printed last."""
    _keys_rotate(db, key)


@_friendly
def _keys_rotate(db: str, key: str) -> None:
    from .keys import rotate

    new = rotate(_engines(db), key)
    print("new API key (shown only now); the old one is revoked:", file=sys.stderr, flush=True)
    print(new, flush=True)


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
    """Add `serve`, `keys ...` and `import` to a typer app."""
    keys = typer.Typer(help="API keys of `pergen serve`.", no_args_is_help=True)
    keys.command("create")(keys_create)
    keys.command("list")(keys_list)
    keys.command("revoke")(keys_revoke)
    keys.command("rotate")(keys_rotate)
    app.add_typer(keys, name="keys")
    app.command("serve")(serve)
    app.command("import")(import_cmd)
