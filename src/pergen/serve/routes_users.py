"""Users and their profile items: add, page, delete, erase, export.

Every input is checked against the contract (`schemas`, `contract`) before anything is
written. After a write, the encoding worker and the memory are told (they work in the
background); after a delete, `erasure.scrub` removes what the database keeps of the
erased text, and every in-process cache forgets the user.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request

from . import erasure, store
from .contract import Id
from .http import ApiError, not_found, tenant
from .retrieval import Retrieval
from .schemas import ItemsIn, UserIn

router = APIRouter(prefix="/v1/users", tags=["users"])
UserId = Annotated[Id, Path(description="1 to 200 characters, no '/' or control characters")]
ItemId = Annotated[Id, Path(description="The item's id")]
Tenant = Annotated[int, Depends(tenant)]
MAX_CURSOR = 2 ** 31 - 1  # item keys are 32-bit integers on PostgreSQL


def _retrieval(request: Request) -> Retrieval:
    r: Retrieval = request.app.state.retrieval
    return r


@router.post("/{user_id}/items", status_code=201)
def add_items(user_id: UserId, body: ItemsIn, tenant_pk: Tenant, request: Request) -> dict[str, int]:
    """Add items; ids the user already has are skipped. 201 once they are committed.

    Dense retrievers' vectors are computed afterwards by the background worker."""
    engines = request.app.state.engines
    new = store.add_items(engines, tenant_pk, user_id, [i.record() for i in body.items])
    if new:
        _retrieval(request).worker.notify()
        request.app.state.memory.written(tenant_pk, user_id)
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
               after: Annotated[int | None, Query(ge=0, le=MAX_CURSOR,
                                                  description="`next` of the previous page")] = None
               ) -> dict[str, Any]:
    """A page of items, oldest first; pass `next` as `after` for the following page."""
    page = store.list_items(request.app.state.engines, tenant_pk, user_id, limit, after)
    if page is None:
        raise not_found()
    return {"items": page[0], "next": page[1]}


@router.delete("/{user_id}/items/{item_id}")
def delete_item(user_id: UserId, item_id: ItemId, tenant_pk: Tenant,
                request: Request) -> dict[str, int]:
    engines = request.app.state.engines
    if not store.delete_item(engines, tenant_pk, user_id, item_id):
        raise ApiError(404, "no such user or item", "not_found")
    erasure.scrub(engines)
    _retrieval(request).forget(tenant_pk, user_id)
    request.app.state.memory.written(tenant_pk, user_id)
    return {"deleted": 1}


@router.delete("/{user_id}")
def delete_user(user_id: UserId, tenant_pk: Tenant, request: Request) -> dict[str, Any]:
    """Erase the user: items, embeddings, summaries, the user row and cached profiles.

    When this answers, SQLite's WAL is truncated (no byte of the texts left in the
    database files) and every cache of this process forgot the user."""
    engines = request.app.state.engines
    counts = store.delete_user(engines, tenant_pk, user_id)
    if counts is None:
        raise not_found()
    erasure.scrub(engines)
    counts["caches"] = _retrieval(request).forget(tenant_pk, user_id)
    request.app.state.memory.forget(tenant_pk, user_id)
    return {"deleted": counts}


@router.get("/{user_id}/export")
def export_user(user_id: UserId, tenant_pk: Tenant, request: Request) -> dict[str, Any]:
    """Everything the service holds about the user."""
    found = store.export_user(request.app.state.engines, tenant_pk, user_id)
    if found is None:
        raise not_found()
    return found
