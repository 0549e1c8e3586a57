"""Errors raised by the library. The CLI maps them to messages and exit codes; the library never prints."""

from __future__ import annotations

from collections.abc import Iterable


class PergenError(Exception):
    """Base class of every error pergen raises on purpose.

    A message may name an option as ``{option}``: the library says the Python parameter
    (``view``), the CLI the flag the user typed (``--profile-view``), through `render`.
    """

    def __init__(self, message: str = "", *, option: str | None = None) -> None:
        self.template, self.option = message, option
        super().__init__(self.render())

    def render(self, flag: str | None = None) -> str:
        """The message, with the option spelled `flag` (default: the Python parameter)."""
        if self.option is None:
            return self.template
        return self.template.replace("{option}", flag or self.option)


class DataError(PergenError, ValueError):
    """A data file is malformed. The message names the file, the record and the field."""

    def __init__(self, message: str, *, file: str | None = None, record: str | None = None,
                 field: str | None = None) -> None:
        self.file, self.record, self.field = file, record, field
        where = []
        if file is not None:
            where.append(f"file {file}")
        if record is not None:
            where.append(f"record {record}")
        if field is not None:
            where.append(f"field {field!r}")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class TaskError(PergenError, ValueError):
    """A task name is unknown or a task file is invalid."""


class ConfigError(PergenError, ValueError):
    """An option (retriever, model, metric name...) is unknown or badly formed."""


def bad_choice(option: str, value: object, accepted: Iterable[str], why: str = "") -> ConfigError:
    """The error for a value outside a closed set: names the option, the value and the
    accepted values, so the user can fix the call without reading the docs."""
    known = ", ".join(accepted)
    return ConfigError(f"{{option}} {value!r} is not valid{why}; accepted: {known}", option=option)


class MissingExtraError(PergenError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(f"{package} is not installed: pip install 'pergen[{extra}]'")


class BackendError(PergenError, RuntimeError):
    """An LLM backend failed (server unreachable after retries, bad response...)."""


class DataWarning(UserWarning):
    """Data that runs but probably not as the user meant (e.g. inputs without the task's
    query marker). Issued with `warnings.warn`: the library never prints; the CLI shows it."""
