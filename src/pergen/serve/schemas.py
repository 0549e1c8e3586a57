"""Request bodies of every route, under the one input contract (`contract`).

Each model checks its whole raw input first (`_Checked`: text, finite numbers, depth),
then its typed fields (ids, dates, ranges). Ids are strict: a JSON boolean is not an id
(lax parsing stored ``true`` as ``"1"``). The models also make the OpenAPI schema that
the fuzzing tests generate requests from, the chat body included.
"""

from __future__ import annotations

import string
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .contract import MAX_TEXT, Id, IsoDate, ItemId, Text, json_before

MAX_ITEMS = 1000
MAX_K = 100


class _Checked(BaseModel):
    @model_validator(mode="before")
    @classmethod
    def _contract(cls, data: Any) -> Any:
        return json_before(data)


class ItemIn(_Checked):
    """A profile item: an ``id``, an optional ``date`` and any other JSON fields."""

    model_config = ConfigDict(extra="allow")
    id: ItemId = Field(description="Unique per user; an id already stored is skipped")
    date: IsoDate | None = Field(None, description="ISO-8601, e.g. 2024-05-01")

    def record(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump().items() if v is not None or k != "date"}


class ItemsIn(_Checked):
    items: list[ItemIn] = Field(max_length=MAX_ITEMS)


class UserIn(_Checked):
    attributes: dict[str, Any] = Field(default_factory=dict, max_length=100,
                                       description="Static facts (language, role) for templates")


class RetrieveIn(_Checked):
    user: Id
    query: Text
    retriever: str | None = Field(None, max_length=200,
                                  description="One of the server's retrievers; default: its first")
    k: int = Field(4, ge=0, le=MAX_K)
    task: str | None = Field(None, max_length=64,
                             description="A built-in task whose document fields are indexed")


def _template(value: str) -> str:
    parsed = string.Template(value)
    if not parsed.is_valid():
        raise ValueError("invalid placeholder: use $name or ${name} ('$$' for a dollar sign)")
    return value


class TemplateIn(_Checked):
    item: Text = Field(max_length=MAX_TEXT,
                       description="Per item, with $field substitution, e.g. '\"$title\"'")
    prompt: Text = Field(description="With $profile and $input (and user attributes as $name)")
    document_fields: list[Text] = Field(default_factory=list, max_length=32,
                                        description="Fields retrieval indexes (default: all)")

    @field_validator("item", "prompt")
    @classmethod
    def _valid(cls, value: str) -> str:
        return _template(value)


class PromptIn(RetrieveIn):
    template: TemplateIn | None = None
    max_length: int = Field(512, ge=16, le=1 << 16)
    view: str = Field("full", max_length=32)

    @model_validator(mode="after")
    def _one_of(self) -> PromptIn:
        if (self.task is None) == (self.template is None):
            raise ValueError("give exactly one of 'task' and 'template'")
        return self


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str = Field(max_length=64)
    content: Any = None


class PergenOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    retriever: str | None = Field(None, max_length=200)
    k: int | None = Field(None, ge=0, le=MAX_K)


class ChatIn(_Checked):
    """An OpenAI chat request; fields other than these go upstream unchanged."""

    model_config = ConfigDict(extra="allow")
    model: str | None = Field(None, max_length=200)
    messages: list[MessageIn] = Field(min_length=1, max_length=1000)
    user: Id | None = Field(None, description="The user to personalize for (or X-Pergen-User)")
    stream: bool = False
    pergen: PergenOptions | None = None
