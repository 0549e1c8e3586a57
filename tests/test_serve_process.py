"""Real `pergen serve` processes: concurrent writers lose nothing, kill -9 loses no
acknowledged write. Both databases; PostgreSQL with two server processes at once."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from test_serve_support import DATABASES, Server, auth, database_url, make_key

pytestmark = pytest.mark.slow  # real server processes: about a minute on 2 cores

WRITERS, PER_WRITER, BATCH = 8, 500, 25
NO_MODEL = ("--upstream", "http://127.0.0.1:9/v1")  # writes only: no embedded model to load


def list_all(url: str, key: str, user: str) -> list[str]:
    ids: list[str] = []
    after = None
    while True:
        params = {"limit": 1000, **({"after": after} if after is not None else {})}
        page = httpx.get(f"{url}/v1/users/{user}/items", params=params, headers=auth(key),
                         timeout=60).json()
        ids += [i["id"] for i in page["items"]]
        after = page["next"]
        if after is None:
            return ids


@pytest.mark.parametrize("kind", DATABASES)
def test_concurrent_writers_lose_nothing(kind: str, tmp_path: Path) -> None:
    db = database_url(kind, tmp_path)
    key = make_key(db, "acme")
    servers = [Server(db, *NO_MODEL, log=tmp_path / "s0.log")]
    if kind == "postgresql":  # several processes writing to one database
        servers.append(Server(db, *NO_MODEL, log=tmp_path / "s1.log"))
    failures: list[str] = []

    def writer(w: int) -> None:
        url = servers[w % len(servers)].url
        with httpx.Client(timeout=120) as client:
            batches = [[{"id": f"w{w}-{i}", "text": f"writer {w} item {i}"}
                        for i in range(start, start + BATCH)]
                       for start in range(0, PER_WRITER, BATCH)]
            for batch in [*batches, batches[0]]:  # the last one replays a batch: skipped
                r = client.post(f"{url}/v1/users/shared/items", json={"items": batch},
                                headers=auth(key))
                if r.status_code != 201:
                    failures.append(f"{r.status_code} {r.text[:200]}")

    try:
        threads = [threading.Thread(target=writer, args=(w,)) for w in range(WRITERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert failures == []
        ids = list_all(servers[0].url, key, "shared")
    finally:
        for s in servers:
            s.stop()
    counts = Counter(ids)
    assert len(counts) == WRITERS * PER_WRITER and max(counts.values()) == 1
    assert set(ids) == {f"w{w}-{i}" for w in range(WRITERS) for i in range(PER_WRITER)}


@pytest.mark.parametrize("kind", DATABASES)
def test_kill9_loses_no_acknowledged_write(kind: str, tmp_path: Path) -> None:
    db = database_url(kind, tmp_path)
    key = make_key(db, "acme")
    server = Server(db, *NO_MODEL, "--log-level", "debug", log=tmp_path / "server.log")
    acked: list[list[str]] = []
    sent: list[list[str]] = []
    lock = threading.Lock()
    stop = threading.Event()

    def writer(w: int) -> None:
        n = 0
        with httpx.Client(timeout=30) as client:
            while not stop.is_set():
                batch = [f"k{w}-{n + i}" for i in range(10)]
                n += 10
                with lock:
                    sent.append(batch)
                try:
                    r = client.post(f"{server.url}/v1/users/crash/items", headers=auth(key),
                                    json={"items": [{"id": i, "text": f"text {i}"} for i in batch]})
                except httpx.HTTPError:
                    return  # the server is gone: this batch was never acknowledged
                if r.status_code == 201:
                    with lock:
                        acked.append(batch)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 120
    while len(acked) < 40 and time.monotonic() < deadline:
        time.sleep(0.01)
    server.kill()  # mid-writes: requests are in flight
    stop.set()
    for t in threads:
        t.join()
    assert len(acked) >= 40
    restarted = Server(db, *NO_MODEL, log=tmp_path / "server.log")
    try:
        stored = set(list_all(restarted.url, key, "crash"))
    finally:
        restarted.stop()
    missing = [i for batch in acked for i in batch if i not in stored]
    assert missing == []
    log = (tmp_path / "server.log").read_text(errors="replace")
    assert "POST /v1/users/crash/items" in log and "text k" not in log  # no item text logged
    # A batch is one transaction: an unacknowledged batch is all there or not at all.
    for batch in sent:
        assert len(stored.intersection(batch)) in (0, len(batch))
