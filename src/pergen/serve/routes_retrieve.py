"""`/v1/retrieve` and `/v1/prompt`: a user's top items, or the personalized prompt.

Prompts use pergen's own builder (`pergen.prompts.templates.build_prompt`) with a task's templates
or a caller's template; the token budget is counted in whitespace words, since the
service does not know which model the prompt is for.
"""

from __future__ import annotations

import string
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field, model_validator
from starlette.concurrency import run_in_threadpool

from ..data.records import Scored
from ..errors import ConfigError, TaskError
from ..llm import WhitespaceTokenizer
from ..prompts.templates import PromptOptions, build_prompt
from ..tasks import TaskSpec, get_task
from .http import ApiError, not_found, tenant
from .retrieval import Retrieval, check_spec

router = APIRouter(prefix="/v1", tags=["retrieval"])
Tenant = Annotated[int, Depends(tenant)]


class RetrieveIn(BaseModel):
    user: str = Field(min_length=1, max_length=200)
    query: str
    retriever: str | None = Field(None, description="Any pergen retriever spec; default: the server's")
    k: int = Field(4, ge=0, le=1000)
    task: str | None = Field(None, description="Index the task's document fields (e.g. LaMP_4)")


class TemplateIn(BaseModel):
    item: str = Field(description="Per item, with $field substitution, e.g. '\"$title\"'")
    prompt: str = Field(description="With $profile and $input (and user attributes as $name)")
    document_fields: list[str] = Field(default_factory=list,
                                       description="Fields retrieval indexes (default: all)")


class PromptIn(RetrieveIn):
    template: TemplateIn | None = None
    max_length: int = Field(512, ge=16, le=1 << 16)
    view: str = "full"

    @model_validator(mode="after")
    def _one_of(self) -> PromptIn:
        if (self.task is None) == (self.template is None):
            raise ValueError("give exactly one of 'task' and 'template'")
        return self


def _task(name: str | None) -> TaskSpec | None:
    if name is None:
        return None
    try:
        return get_task(name)
    except TaskError as e:
        raise ApiError(422, str(e), field="task") from None


async def _rank(request: Request, tenant_pk: int, body: RetrieveIn, task: TaskSpec | None,
                query: str) -> tuple[dict[str, Any], list[Scored]]:
    spec = body.retriever or request.app.state.settings.retriever
    try:
        check_spec(spec)
    except ConfigError as e:
        raise ApiError(422, str(e), field="retriever") from None
    retrieval: Retrieval = request.app.state.retrieval
    found = await run_in_threadpool(retrieval.rank, tenant_pk, body.user, query, spec, body.k, task)
    if found is None:
        raise not_found()
    return found[0].user.attributes, found[1]


@router.post("/retrieve")
async def retrieve(body: RetrieveIn, tenant_pk: Tenant, request: Request) -> dict[str, Any]:
    """The user's top-k items for the query, best first: id, retriever score, fields (as text)."""
    task = _task(body.task)
    _, ranked = await _rank(request, tenant_pk, body, task, body.query)
    return {"items": [{"id": s.item.id, "score": s.score, "fields": dict(s.item.fields)} for s in ranked]}


def _template_task(t: TemplateIn, attributes: dict[str, Any]) -> TaskSpec:
    values = {k: str(v) for k, v in attributes.items() if k not in ("profile", "input")}
    try:
        return TaskSpec(name="template", item_template=t.item,
                        prompt_template=string.Template(t.prompt).safe_substitute(values),
                        document_fields=tuple(t.document_fields), output_fields=())
    except TaskError as e:
        raise ApiError(422, str(e), field="template") from None


@router.post("/prompt")
async def prompt(body: PromptIn, tenant_pk: Tenant, request: Request) -> dict[str, Any]:
    """The personalized prompt for `query` (the task's input text) and the items used."""
    task = _task(body.task)
    query = task.query(body.query) if task else body.query
    index_task = task if task else None
    if body.template is not None and body.template.document_fields:
        index_task = _template_task(body.template, {})
    attributes, ranked = await _rank(request, tenant_pk, body, index_task, query)
    if body.template is not None:
        task = _template_task(body.template, attributes)
    assert task is not None
    items = [s.item for s in ranked]
    try:
        options = PromptOptions(k=body.k, max_length=body.max_length, view=body.view)
        text = build_prompt(task, body.query, items, WhitespaceTokenizer(), options)
    except TaskError as e:
        raise ApiError(422, str(e), field="template" if body.template else "task") from None
    return {"prompt": text, "items": [i.id for i in items]}
