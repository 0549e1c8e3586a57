"""Users and their profile items: add, page, delete, erase, export."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator

from . import store
from .http import ApiError, not_found, tenant
from .retrieval import Retrieval

log = logging.getLogger("pergen.serve")
router = APIRouter(prefix="/v1/users", tags=["users"])
UserId = Annotated[str, Path(min_length=1, max_length=200)]
Tenant = Annotated[int, Depends(tenant)]


class ItemIn(BaseModel):
    """A profile item: an ``id``, an optional ``date`` and any other JSON fields."""

    model_config = ConfigDict(extra="allow")
    id: str | int = Field(description="Unique per user; an id already stored is skipped")
    date: str | None = None

    @field_validator("id")
    @classmethod
    def _id(cls, value: str | int) -> str | int:
        if not str(value) or len(str(value)) > 200:
            raise ValueError("must be 1 to 200 characters")
        return value

    def record(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump().items() if v is not None or k != "date"}


class ItemsIn(BaseModel):
    items: list[ItemIn]


class UserIn(BaseModel):
    attributes: dict[str, Any] = Field(default_factory=dict,
                                       description="Static facts (language, role) for templates")


def _retrieval(request: Request) -> Retrieval:
    r: Retrieval = request.app.state.retrieval
    return r


@router.post("/{user_id}/items", status_code=201)
def add_items(user_id: UserId, body: ItemsIn, tenant_pk: Tenant, request: Request) -> dict[str, int]:
    """Add items; ids the user already has are skipped. 201 once they are committed."""
    engines = request.app.state.engines
    records = [i.record() for i in body.items]
    new = store.add_items(engines, tenant_pk, user_id, records)
    specs = request.app.state.settings.embed
    if new and specs:
        by_id = {str(r["id"]): r for r in records}
        pks = [pk for pk, _ in new]
        items = [store.to_profile_item(iid, {k: v for k, v in by_id[iid].items() if k != "id"}, 0)
                 for _, iid in new]
        for spec in specs:
            try:
                _retrieval(request).embed(spec, pks, items)
            except Exception as e:  # the items are committed: their vectors come later
                log.warning("embedding new items with %s failed (%s); they are encoded at "
                            "their first %s request", spec, type(e).__name__, spec)
    return {"added": len(new)}


@router.put("/{user_id}")
def put_user(user_id: UserId, body: UserIn, tenant_pk: Tenant, request: Request) -> dict[str, Any]:
    """Create the user or replace their attributes."""
    store.set_attributes(request.app.state.engines, tenant_pk, user_id, body.attributes)
    return {"user": user_id, "attributes": body.attributes}


@router.get("/{user_id}")
def get_user(user_id: UserId, tenant_pk: Tenant, request: Request) -> dict[str, Any]:
    engines = request.app.state.engines
    with engines.read.connect() as conn:
        found = store.find_user(conn, tenant_pk, user_id)
    if found is None:
        raise not_found()
    return {"user": user_id, "attributes": found.attributes,
            "items": store.count_items(engines, tenant_pk, user_id)}


@router.get("/{user_id}/items")
def list_items(user_id: UserId, tenant_pk: Tenant, request: Request,
               limit: Annotated[int, Query(ge=1, le=1000)] = 100,
               after: Annotated[int | None, Query(description="`next` of the previous page")] = None
               ) -> dict[str, Any]:
    """A page of items, oldest first; pass `next` as `after` for the following page."""
    page = store.list_items(request.app.state.engines, tenant_pk, user_id, limit, after)
    if page is None:
        raise not_found()
    return {"items": page[0], "next": page[1]}


@router.delete("/{user_id}/items/{item_id}")
def delete_item(user_id: UserId, item_id: Annotated[str, Path(max_length=200)], tenant_pk: Tenant,
                request: Request) -> dict[str, int]:
    if not store.delete_item(request.app.state.engines, tenant_pk, user_id, item_id):
        raise ApiError(404, "no such user or item", "not_found")
    return {"deleted": 1}


@router.delete("/{user_id}")
def delete_user(user_id: UserId, tenant_pk: Tenant, request: Request) -> dict[str, Any]:
    """Erase the user: items, embeddings, summaries, the user row and cached profiles."""
    counts = store.delete_user(request.app.state.engines, tenant_pk, user_id)
    if counts is None:
        raise not_found()
    counts["caches"] = _retrieval(request).forget(tenant_pk, user_id)
    return {"deleted": counts}


@router.get("/{user_id}/export")
def export_user(user_id: UserId, tenant_pk: Tenant, request: Request) -> dict[str, Any]:
    """Everything the service holds about the user."""
    found = store.export_user(request.app.state.engines, tenant_pk, user_id)
    if found is None:
        raise not_found()
    return found
