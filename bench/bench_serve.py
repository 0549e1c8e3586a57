"""`pergen serve` on loopback: proxy overhead over a stub upstream, write throughput, and
dense retrieval with the background encoder.

Three processes: a stub OpenAI-compatible upstream (fixed answer, no work), `pergen serve
--upstream STUB`, and this client. Steps:

1. write throughput: `--users` x `--items` synthetic items (30 words drawn from a Zipf
   vocabulary) posted by `--writers` concurrent clients, one user's items per request;
2. warm-up: one chat request per user, one at a time (profile loaded and tokenized: the
   cold cost);
3. overhead, closed loop: `--sequential` requests one at a time (random users), straight
   to the stub and through pergen; overhead = the difference of the latency percentiles
   (same client, same machine, same loopback). This is the per-request cost;
4. overhead with `--clients` concurrent closed loops (default 4), direct and through
   pergen, same number of requests;
5. overhead, open loop: `--rate` requests/s for `--seconds` (0: skipped), which adds
   queueing once the machine cannot keep up;
6. dense (`--dense`, loads MiniLM): a second server with ``--retriever bm25 --retriever
   dense``; warm dense `/v1/retrieve` latency for a user whose items are encoded, then the
   same while another user's `--backlog` (2,000) new items are being encoded in the
   background: the delay the backlog adds to other users' requests.

    python bench/bench_serve.py --db sqlite:///tmp/bench.db
    python bench/bench_serve.py --db postgresql+psycopg://pergen@127.0.0.1:5432/bench
    python bench/bench_serve.py ... --retriever dense  # where dense moves it (MiniLM)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPLY = {"id": "stub", "object": "chat.completion", "model": "stub",
         "choices": [{"index": 0, "finish_reason": "stop",
                      "message": {"role": "assistant", "content": "ok"}}]}


async def stub_app(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
    """A raw ASGI upstream: reads the body, answers a fixed completion."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()  # type: ignore[operator]
        more = message.get("more_body", False)
    body = json.dumps(REPLY).encode()
    await send({"type": "http.response.start", "status": 200,  # type: ignore[operator]
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})  # type: ignore[operator]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait(url: str, proc: subprocess.Popen[bytes], timeout: float = 300) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise SystemExit(f"{url}: process exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"{url} not ready")


def words(rng: random.Random, vocab: list[str], n: int) -> str:
    # Zipf-like: word i with weight 1/(i+1), so texts share common words as real ones do.
    return " ".join(rng.choices(vocab, cum_weights=CUM, k=n))


VOCAB = [f"w{i}" for i in range(5000)]
CUM = list(__import__("itertools").accumulate(1 / (i + 1) for i in range(len(VOCAB))))


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def write(url: str, key: str, users: int, items: int, writers: int) -> tuple[float, float]:
    """Items/s and the median request time of batched writes (one user per request)."""
    rng = random.Random(0)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for u in range(users):
        queue.put_nowait(u)
    times: list[float] = []

    async def writer(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            u = queue.get_nowait()
            batch = [{"id": f"i{j}", "text": words(rng, VOCAB, 30)} for j in range(items)]
            t0 = time.perf_counter()
            r = await client.post(f"{url}/v1/users/user{u}/items", json={"items": batch},
                                  headers={"Authorization": f"Bearer {key}"})
            times.append(time.perf_counter() - t0)
            assert r.status_code == 201, r.text

    t0 = time.perf_counter()
    async with httpx.AsyncClient(timeout=300) as client:
        await asyncio.gather(*(writer(client) for _ in range(writers)))
    return users * items / (time.perf_counter() - t0), statistics.median(times)


async def closed_loop(url: str, key: str, users: int, n: int, each_user: bool = False,
                      clients: int = 1) -> list[float]:
    """Latencies (ms) of `n` chat requests, `clients` at a time, each client sending its
    next request when the previous one answered (random users, or every user once)."""
    rng = random.Random(2)
    headers = {"Authorization": f"Bearer {key}"}
    latencies: list[float] = []
    todo = list(range(users if each_user else n))

    async def one_client(client: httpx.AsyncClient) -> None:
        while todo:
            i = todo.pop()
            body = {"model": "stub", "user": f"user{i if each_user else rng.randrange(users)}",
                    "max_tokens": 8, "messages": [{"role": "user", "content": words(rng, VOCAB, 12)}]}
            t0 = time.perf_counter()
            r = await client.post(f"{url}/v1/chat/completions", json=body, headers=headers)
            latencies.append(1000 * (time.perf_counter() - t0))
            assert r.status_code == 200, r.text

    async with httpx.AsyncClient(timeout=60) as client:
        await asyncio.gather(*(one_client(client) for _ in range(clients)))
    return latencies


async def retrieve_loop(url: str, key: str, user: str, n: int, retriever: str) -> list[float]:
    """Latencies (ms) of `n` sequential `/v1/retrieve` calls (new 8-word queries)."""
    rng = random.Random(3)
    headers = {"Authorization": f"Bearer {key}"}
    latencies: list[float] = []
    async with httpx.AsyncClient(timeout=60) as client:
        for _ in range(n):
            body = {"user": user, "query": words(rng, VOCAB, 8), "retriever": retriever, "k": 4}
            t0 = time.perf_counter()
            r = await client.post(f"{url}/v1/retrieve", json=body, headers=headers)
            latencies.append(1000 * (time.perf_counter() - t0))
            assert r.status_code == 200 and r.headers["x-pergen-retriever"] == retriever, r.text
    return latencies


async def chat_loop(url: str, key: str, users: int, rate: float, seconds: float,
                    sequential_users: bool = False) -> list[float]:
    """Latencies (ms) of chat requests sent at `rate`/s (open loop), random users."""
    rng = random.Random(1)
    headers = {"Authorization": f"Bearer {key}"}
    latencies: list[float] = []
    n = users if sequential_users else int(rate * seconds)

    async def one(client: httpx.AsyncClient, u: int) -> None:
        body = {"model": "stub", "user": f"user{u}", "max_tokens": 8,
                "messages": [{"role": "user", "content": words(rng, VOCAB, 12)}]}
        t0 = time.perf_counter()
        r = await client.post(f"{url}/v1/chat/completions", json=body, headers=headers)
        latencies.append(1000 * (time.perf_counter() - t0))
        assert r.status_code == 200, r.text

    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=200,
                                                                      keepalive_expiry=2.0)) as client:
        start, tasks = time.perf_counter(), []
        for i in range(n):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            u = i if sequential_users else rng.randrange(users)
            tasks.append(asyncio.create_task(one(client, u)))
        await asyncio.gather(*tasks)
    return latencies


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux): a cost that a busy machine does not
    inflate the way it inflates wall-clock latency."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def report(name: str, direct: list[float], proxied: list[float]) -> None:
    for who, lat in (("direct to stub", direct), ("through pergen", proxied)):
        print(f"{name}, {who:14s}: n={len(lat)} p50 {pct(lat, 50):7.2f} ms  p99 {pct(lat, 99):7.2f} ms")
    print(f"{name}, overhead: p50 {pct(proxied, 50) - pct(direct, 50):.2f} ms, "
          f"p99 {pct(proxied, 99) - pct(direct, 99):.2f} ms")


def start_server(db: str, port: int, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "pergen.serve", "serve", "--db", db,
                             "--port", str(port), "--log-level", "warning", *args],
                            env={**os.environ, "HF_HUB_OFFLINE": "1"})


async def post_items(url: str, key: str, user: str, n: int, seed: int) -> None:
    rng = random.Random(seed)
    items = [{"id": f"{user}-{j}", "text": words(rng, VOCAB, 30)} for j in range(n)]
    async with httpx.AsyncClient(timeout=300) as client:
        for start in range(0, n, 1000):
            r = await client.post(f"{url}/v1/users/{user}/items", json={"items": items[start:start + 1000]},
                                  headers={"Authorization": f"Bearer {key}"})
            assert r.status_code == 201, r.text


def encoded(url: str, key: str, user: str) -> bool:
    r = httpx.post(f"{url}/v1/retrieve", json={"user": user, "query": "w1", "retriever": "dense"},
                   headers={"Authorization": f"Bearer {key}"}, timeout=60)
    return r.headers["x-pergen-retriever"] == "dense"


def dense_bench(db: str, key: str, stub: str, items: int, backlog: int, n: int) -> None:
    """Warm dense retrieval, and what another user's encoding backlog adds to it."""
    port = free_port()
    proc = start_server(db, port, "--upstream", stub + "/v1", "--retriever", "bm25",
                        "--retriever", "dense")
    url = f"http://127.0.0.1:{port}"
    try:
        wait(url + "/healthz", proc)
        asyncio.run(post_items(url, key, "warm", items, 5))
        while not encoded(url, key, "warm"):
            time.sleep(0.2)
        warm = asyncio.run(retrieve_loop(url, key, "warm", n, "dense"))
        bm25 = asyncio.run(retrieve_loop(url, key, "warm", n, "bm25"))
        print(f"dense retrieve, warm ({items} items encoded, MiniLM query encoding): "
              f"p50 {pct(warm, 50):.2f} ms, p99 {pct(warm, 99):.2f} ms; bm25 p50 {pct(bm25, 50):.2f} ms")
        t0 = time.perf_counter()
        asyncio.run(post_items(url, key, "backlog", backlog, 6))
        during = asyncio.run(retrieve_loop(url, key, "warm", n, "dense"))
        bm25_during = asyncio.run(retrieve_loop(url, key, "warm", n, "bm25"))
        busy = time.perf_counter() - t0
        still = not encoded(url, key, "backlog")
        print(f"while {backlog} items of another user are encoded (still encoding at the end: "
              f"{still}, {busy:.1f} s): dense p50 {pct(during, 50):.2f} ms, p99 {pct(during, 99):.2f} ms "
              f"(delay p50 {pct(during, 50) - pct(warm, 50):.2f} ms, goal < 50 ms); bm25 p50 "
              f"{pct(bm25_during, 50):.2f} ms (delay {pct(bm25_during, 50) - pct(bm25, 50):.2f} ms)")
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default=None, help="default: a temporary SQLite file")
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--sequential", type=int, default=500)
    parser.add_argument("--retriever", default="bm25")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--dense", action="store_true", help="also the dense steps (MiniLM)")
    parser.add_argument("--backlog", type=int, default=2000)
    parser.add_argument("--dense-db", default=None, help="an empty database for the dense steps "
                        "(default: a temporary SQLite file)")
    parser.add_argument("--stub", type=int, help=argparse.SUPPRESS)  # internal: run the stub
    args = parser.parse_args()
    if args.stub:
        import uvicorn

        uvicorn.run(stub_app, host="127.0.0.1", port=args.stub, log_level="warning")
        return
    tmp = Path(tempfile.mkdtemp(prefix="pergen-bench-"))
    db = args.db or f"sqlite:///{tmp / 'bench.db'}"
    stub_port, port = free_port(), free_port()
    procs = [subprocess.Popen([sys.executable, __file__, "--stub", str(stub_port)])]
    key = subprocess.run([sys.executable, "-m", "pergen.serve", "keys", "create", "--db", db,
                          "--tenant", "bench"], check=True, capture_output=True, text=True
                         ).stdout.strip().splitlines()[-1]
    stub = f"http://127.0.0.1:{stub_port}"
    procs.append(start_server(db, port, "--upstream", stub + "/v1", "--retriever", args.retriever))
    url = f"http://127.0.0.1:{port}"
    try:
        wait(stub, procs[0])
        wait(url + "/healthz", procs[1])
        backend = db.split(":", 1)[0]
        print(f"database {backend}, {args.users} users x {args.items} items, "
              f"retriever {args.retriever}, {os.cpu_count()} CPUs")
        rate, median = asyncio.run(write(url, key, args.users, args.items, args.writers))
        print(f"writes: {rate:,.0f} items/s ({args.writers} writers, {args.items}-item "
              f"requests, median request {1000 * median:.1f} ms)")
        cold = asyncio.run(closed_loop(url, key, args.users, 0, each_user=True))
        print(f"first chat per user (profile load + tokenize): p50 {pct(cold, 50):.1f} ms, "
              f"p99 {pct(cold, 99):.1f} ms")
        print(f"load average before the latency runs: {os.getloadavg()[0]:.1f}")
        direct = asyncio.run(closed_loop(stub, key, args.users, args.sequential))
        before = cpu_seconds(procs[1].pid), cpu_seconds(procs[0].pid)
        proxied = asyncio.run(closed_loop(url, key, args.users, args.sequential))
        after = cpu_seconds(procs[1].pid), cpu_seconds(procs[0].pid)
        report("closed loop", direct, proxied)
        print(f"CPU per proxied request: pergen {1000 * (after[0] - before[0]) / args.sequential:.2f} ms, "
              f"stub {1000 * (after[1] - before[1]) / args.sequential:.2f} ms")
        if args.clients > 1:
            report(f"{args.clients} concurrent clients",
                   asyncio.run(closed_loop(stub, key, args.users, args.sequential, clients=args.clients)),
                   asyncio.run(closed_loop(url, key, args.users, args.sequential, clients=args.clients)))
        if args.seconds > 0:
            report(f"open loop at {args.rate:.0f} req/s",
                   asyncio.run(chat_loop(stub, key, args.users, args.rate, args.seconds)),
                   asyncio.run(chat_loop(url, key, args.users, args.rate, args.seconds)))
        if args.dense:  # a database of its own: the worker would encode every item above
            dense_db = args.dense_db or f"sqlite:///{tmp / 'dense.db'}"
            dense_key = subprocess.run([sys.executable, "-m", "pergen.serve", "keys", "create", "--db",
                                        dense_db, "--tenant", "bench"], check=True, capture_output=True,
                                       text=True).stdout.strip().splitlines()[-1]
            dense_bench(dense_db, dense_key, stub, args.items, args.backlog, args.sequential // 5)
        print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)


if __name__ == "__main__":
    main()
