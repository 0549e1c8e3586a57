"""`/v1/retrieve` and `/v1/prompt`: a user's top items, or the personalized prompt.

A request names one of the server's retrievers by its key (`catalog`) and, optionally,
a built-in task: never a path (`get_task` would read a task file from one). Prompts use
pergen's own builder (`pergen.prompts.templates.build_prompt`) with a task's templates or a
caller's template, within `max_length` in both cases; the budget is counted in
whitespace words, since the service does not know which model the prompt is for. The
response header ``X-Pergen-Retriever`` names the retriever that ranked, and
``X-Pergen-Fallback`` says why when it is not the one asked for.
"""

from __future__ import annotations

import string
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from ..data.records import ProfileItem
from ..errors import PergenError
from ..llm import WhitespaceTokenizer
from ..prompts.templates import PromptOptions, build_prompt
from ..tasks import TaskSpec
from ..tasks.spec import builtin_tasks
from .http import ApiError, not_found, tenant
from .retrieval import Ranked, Retrieval
from .schemas import PromptIn, RetrieveIn, TemplateIn

router = APIRouter(prefix="/v1", tags=["retrieval"])
Tenant = Annotated[int, Depends(tenant)]


def builtin_task(name: str | None) -> TaskSpec | None:
    """A built-in task by name (``LaMP_4``, ``lamp-4``, ``4``); 422 for anything else."""
    if name is None:
        return None
    tasks = builtin_tasks()
    normal = name.replace("-", "_").upper().replace("LAMP", "LaMP")
    for candidate in (name, normal, f"LaMP_{name}", normal.replace("_OLD", "_old")):
        if candidate in tasks:
            return tasks[candidate]
    raise ApiError(422, f"unknown task; built-in tasks: {', '.join(tasks)}", field="task")


def check_retriever(request: Request, key: str | None, field: str = "retriever") -> str:
    """The retriever's key, or 422 listing the server's keys."""
    retrieval: Retrieval = request.app.state.retrieval
    entry = retrieval.catalog.get(key)
    if entry is None:
        raise ApiError(422, retrieval.catalog.unknown(), field=field)
    return entry.key


def ranked_headers(ranked: Ranked) -> dict[str, str]:
    """Which retriever ranked, and why if not the one asked for (URL-quoted: headers are
    latin-1, and keys may not be)."""
    out = {"X-Pergen-Retriever": quote(ranked.retriever, safe=":+=-_.")}
    if ranked.fallback:
        out["X-Pergen-Fallback"] = quote(ranked.fallback, safe=":+=-_.;, ")
    return out


def headers(ranked: Ranked, response: Response) -> None:
    response.headers.update(ranked_headers(ranked))


async def _rank(request: Request, tenant_pk: int, body: RetrieveIn, task: TaskSpec | None,
                query: str) -> Ranked:
    key = check_retriever(request, body.retriever)
    retrieval: Retrieval = request.app.state.retrieval
    found = await run_in_threadpool(retrieval.rank, tenant_pk, body.user, query, key, body.k, task)
    if found is None:
        raise not_found()
    return found


@router.post("/retrieve")
async def retrieve(body: RetrieveIn, tenant_pk: Tenant, request: Request,
                   response: Response) -> dict[str, Any]:
    """The user's top-k items for the query, best first: id, retriever score, fields (as text)."""
    task = builtin_task(body.task)
    ranked = await _rank(request, tenant_pk, body, task, body.query)
    headers(ranked, response)
    return {"items": [{"id": s.item.id, "score": s.score, "fields": dict(s.item.fields)}
                      for s in ranked.scored]}


def _template_task(t: TemplateIn, attributes: dict[str, Any]) -> TaskSpec:
    """A task from the caller's template. Its last ``$field`` is the one cut to fit
    `max_length` (without one, the prompt builder cannot cut and the budget was ignored)."""
    values = {k: str(v) for k, v in attributes.items() if k not in ("profile", "input")}
    fields = string.Template(t.item).get_identifiers()
    try:
        return TaskSpec(name="template", item_template=t.item,
                        prompt_template=string.Template(t.prompt).safe_substitute(values),
                        document_fields=tuple(t.document_fields), output_fields=(),
                        truncate_field=fields[-1] if fields else None)
    except (PergenError, ValueError) as e:
        raise ApiError(422, f"template: {e}", field="template") from None


def _check_fields(t: TemplateIn, items: list[ProfileItem]) -> None:
    """422 when an item lacks a field the item template names."""
    for item in items:
        for name in string.Template(t.item).get_identifiers():
            if name not in item.fields:
                raise ApiError(422, f"template.item: profile item {item.id!r} has no field "
                               f"{name!r}", field="template.item")


@router.post("/prompt")
async def prompt(body: PromptIn, tenant_pk: Tenant, request: Request,
                 response: Response) -> dict[str, Any]:
    """The personalized prompt for `query` (the task's input text) and the items used."""
    task = builtin_task(body.task)
    query = task.query(body.query) if task else body.query
    index_task = task
    if body.template is not None and body.template.document_fields:
        index_task = _template_task(body.template, {})
    ranked = await _rank(request, tenant_pk, body, index_task, query)
    headers(ranked, response)
    if body.template is not None:
        task = _template_task(body.template, ranked.profile.user.attributes)
    assert task is not None
    items = [s.item for s in ranked.scored]
    if body.template is not None:
        _check_fields(body.template, items)
    try:
        options = PromptOptions(k=body.k, max_length=body.max_length, view=body.view)
        text = build_prompt(task, body.query, items, WhitespaceTokenizer(), options)
    except (PergenError, ValueError, KeyError) as e:
        field = "view" if "view" in str(e) else "template" if body.template else "task"
        raise ApiError(422, f"{field}: {e}", field=field) from None
    return {"prompt": text, "items": [i.id for i in items]}
