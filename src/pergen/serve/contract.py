"""The one input contract every route enforces before anything is stored.

Why a contract of its own: SQLite and PostgreSQL disagree on what they accept (a NUL
byte, NaN and an over-long date fail only on PostgreSQL; a lone surrogate is stored by
both and then breaks every read, JSON encoding and the proxy), so the service checks
once, at the edge, and both databases see only what both can store and give back:

- text: valid Unicode, no lone surrogate (``"\\ud800"``), no NUL, at most `MAX_TEXT`
  characters per string;
- ids (users, items, tenants' users created by the proxy): 1 to `MAX_ID` characters, no
  ``/`` (a route could not address it) and no control character (they end up in logs);
- dates: ISO-8601 (``2024-05-01``, ``2024-05-01T10:00:00Z``), at most 64 characters;
- numbers: finite (JSON NaN and Infinity are Python extensions, not JSON);
- nesting at most `MAX_DEPTH` levels.

`ContractError` carries the dotted path of the value at fault, relative to where the
check started; `pydantic_error` turns it into an error pydantic reports with that path
(see `pergen.serve.app`'s handler), so every 422 names the HTTP field.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

MAX_ID = 200
MAX_TEXT = 100_000
MAX_DEPTH = 8
MAX_DATE = 64

_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


class ContractError(ValueError):
    """A value breaks the contract; `field` is its dotted path ('' for the value itself)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field, self.reason = field, message


def _join(base: str, key: str | int) -> str:
    return f"{base}.{key}" if base else str(key)


def check_text(value: str, field: str = "", limit: int = MAX_TEXT) -> str:
    """`value` if it is storable text everywhere; ContractError otherwise."""
    if len(value) > limit:
        raise ContractError(field, f"at most {limit} characters")
    if "\x00" in value:
        raise ContractError(field, "contains a NUL character")
    if _SURROGATE.search(value):
        raise ContractError(field, "contains a lone surrogate (not valid Unicode)")
    return value


def check_id(value: str, field: str = "") -> str:
    """An id: text of 1 to `MAX_ID` characters without '/' or control characters."""
    if not value or len(value) > MAX_ID:
        raise ContractError(field, f"must be 1 to {MAX_ID} characters")
    check_text(value, field)
    if "/" in value:
        raise ContractError(field, "must not contain '/'")
    if _CONTROL.search(value):
        raise ContractError(field, "must not contain control characters")
    return value


def check_item_id(value: Any, field: str = "") -> str | int:
    """An item id: an id string or an integer of at most 18 digits (never a boolean)."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ContractError(field, "must be a string or an integer")
    if isinstance(value, int):
        if not -(10 ** 18) < value < 10 ** 18:
            raise ContractError(field, "an integer id has at most 18 digits")
        return value
    return check_id(value, field)


def check_date(value: str, field: str = "") -> str:
    """An ISO-8601 date or date-time (what `datetime.fromisoformat` reads)."""
    if len(value) > MAX_DATE:
        raise ContractError(field, f"at most {MAX_DATE} characters")
    check_text(value, field)
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise ContractError(field, "not an ISO-8601 date (e.g. 2024-05-01)") from None
    return value


def check_json(value: Any, field: str = "", depth: int = 0) -> Any:
    """Walk a JSON value: every string (keys too) is text, every number finite."""
    if depth > MAX_DEPTH:
        raise ContractError(field, f"nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, str):
        check_text(value, field)
    elif isinstance(value, float) and not math.isfinite(value):
        raise ContractError(field, "must be a finite number")
    elif isinstance(value, dict):
        for key, inner in value.items():
            if not isinstance(key, str):
                raise ContractError(field, "object keys must be strings")
            check_text(key, _join(field, "<key>"), MAX_ID)
            check_json(inner, _join(field, key), depth + 1)
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            check_json(inner, _join(field, i), depth + 1)
    return value


def pydantic_error(e: ContractError) -> PydanticCustomError:
    """The error pydantic reports; ctx ``subfield`` is appended to the error's location."""
    return PydanticCustomError("contract", "{reason}", {"reason": e.reason, "subfield": e.field})


def _wrap(check: Any) -> Any:
    def run(value: Any) -> Any:
        try:
            return check(value)
        except ContractError as e:
            raise pydantic_error(e) from None
    return run


def json_before(value: Any) -> Any:
    """For `model_validator(mode="before")`: the whole raw input checked as JSON."""
    return _wrap(check_json)(value)


# The schemas say what the checks enforce (as far as JSON Schema can), so clients and the
# fuzz tests' positive mode produce valid values.
_ID_SCHEMA = {"type": "string", "minLength": 1, "maxLength": MAX_ID,
              "pattern": "^[^/\\x00-\\x1f\\x7f-\\x9f]+$"}
Text = Annotated[str, AfterValidator(_wrap(check_text)), WithJsonSchema(
    {"type": "string", "maxLength": MAX_TEXT, "pattern": "^[^\\x00]*$"})]
Id = Annotated[str, AfterValidator(_wrap(check_id)), WithJsonSchema(_ID_SCHEMA)]
IsoDate = Annotated[str, AfterValidator(_wrap(check_date)), WithJsonSchema(
    {"type": "string", "format": "date", "maxLength": MAX_DATE})]
JsonValue = Annotated[Any, BeforeValidator(_wrap(check_json))]
ItemId = Annotated[Any, BeforeValidator(_wrap(check_item_id)), WithJsonSchema(
    {"anyOf": [_ID_SCHEMA, {"type": "integer", "minimum": -(10 ** 18) + 1,
                            "maximum": 10 ** 18 - 1}]})]
