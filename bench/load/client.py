"""The load process: REST and gRPC at fixed rates, open loop, until told to stop or bounded.

``python -m bench.load.client PLAN OUT`` reads a plan (ports, a rate per protocol, the
requests to cycle through, limits), prints ``ready`` once its connections are open, then
sends each request at its scheduled time — request *i* of a protocol at ``start + i / rate``
— whether or not earlier ones have answered. Latency is measured from the scheduled time,
not from when the request could be sent: a server that stalls for a second delays every
request scheduled in that second, and each of them counts the wait (a closed-loop client
would send fewer requests during the stall and hide it — coordinated omission).

It stops scheduling at SIGINT/SIGTERM, after ``duration_s`` or after ``max_requests``; what is
still in flight then gets ``timeout_s`` to answer and counts as an error otherwise. Every
request ends up in ``OUT`` as one sample: protocol, scheduled time (``time.monotonic``, which
on Linux is the same clock in every process, so the parent can cut out the sync's window),
how late it was sent, latency, outcome. The stock asyncio loop is used: grpc.aio hangs under
uvloop. Loopback only.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"

#: One sample: (protocol, scheduled at, sent this late, latency or None, status, ok).
Sample = tuple[str, float, float, float | None, str, bool]


class HttpPool:
    """Keep-alive HTTP/1.1 connections; a request waits for a free one (and that wait counts).

    A minimal client on asyncio streams: on two cores a full client library spends more CPU
    per request than the server under test. The most recently used connection is taken
    first, so few sit idle; one the server closed while idle (uvicorn's keep-alive timeout)
    is replaced and the request sent again once, as HTTP clients do for an idempotent GET;
    a second failure, or one after part of an answer, is an error. A connection whose
    request failed or timed out is closed (its stream may hold half a response) and a fresh
    one takes its place.
    """

    def __init__(self, port: int, size: int) -> None:
        self.port, self.size = port, size
        self.idle: asyncio.LifoQueue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = (
            asyncio.LifoQueue()
        )

    async def open(self) -> None:
        for _ in range(self.size):
            self.idle.put_nowait(await asyncio.open_connection(HOST, self.port))

    async def get(self, path: str, token: str) -> str:
        reader, writer = await self.idle.get()
        healthy = False
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nAuthorization: Bearer {token}\r\n\r\n"
        ).encode()
        try:
            try:
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError) as exc:
                if isinstance(exc, asyncio.IncompleteReadError) and exc.partial:
                    raise
                writer.close()  # closed by the server while idle: once more, on a new one
                reader, writer = await asyncio.open_connection(HOST, self.port)
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
            status = await self._body(reader, head)
            healthy = True
            return status
        finally:
            if healthy:
                self.idle.put_nowait((reader, writer))
            else:
                writer.close()
                asyncio.get_running_loop().create_task(self._replace())

    @staticmethod
    async def _body(reader: asyncio.StreamReader, head: bytes) -> str:
        """Read the body the head announces; the status code."""
        length, chunked = 0, False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
            elif name.strip().lower() == b"transfer-encoding" and b"chunked" in value:
                chunked = True
        if chunked:
            while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
                await reader.readexactly(size + 2)
            await reader.readuntil(b"\r\n")
        else:
            await reader.readexactly(length)
        return head[9:12].decode()

    async def _replace(self) -> None:
        try:
            self.idle.put_nowait(await asyncio.open_connection(HOST, self.port))
        except OSError:
            await asyncio.sleep(0.5)
            asyncio.get_running_loop().create_task(self._replace())

    def close(self) -> None:
        while not self.idle.empty():
            self.idle.get_nowait()[1].close()


async def _drive(
    protocol: str,
    rate: float,
    send: Callable[[int], Awaitable[str]],
    plan: dict[str, Any],
    stop: asyncio.Event,
    samples: list[Sample],
) -> None:
    """Schedule request i at start + i / rate until stopped; each runs as its own task."""
    if rate <= 0:
        return
    timeout = float(plan["timeout_s"])
    limit = int(plan["max_requests"])
    start = time.monotonic()
    deadline = start + float(plan["duration_s"])
    running: set[asyncio.Task[None]] = set()

    async def one(i: int, scheduled: float) -> None:
        sent = time.monotonic()
        status, ok, latency = "error", False, None
        try:
            status = await asyncio.wait_for(send(i), timeout)
            ok = status in ("200", "OK")
            latency = time.monotonic() - scheduled
        except TimeoutError:
            status = "timeout"
        except Exception as exc:  # every failure is a counted error, never a crash
            status = type(exc).__name__
        samples.append((protocol, scheduled, sent - scheduled, latency, status, ok))

    for i in itertools.count():
        scheduled = start + i / rate
        if i >= limit or scheduled >= deadline or stop.is_set():
            break
        delay = scheduled - time.monotonic()
        if delay > 0:
            try:
                await asyncio.wait_for(stop.wait(), delay)
                break
            except TimeoutError:
                pass
        task = asyncio.get_running_loop().create_task(one(i, scheduled))
        running.add(task)
        task.add_done_callback(running.discard)
    if running:
        await asyncio.wait(running)  # each is bounded by its own timeout


async def run(plan: dict[str, Any], stop: asyncio.Event | None = None) -> list[Sample]:
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    samples: list[Sample] = []
    http = [tuple(r) for r in plan["http_requests"]]
    rpc = [tuple(r) for r in plan["grpc_requests"]]
    pool = HttpPool(int(plan["http_port"]), int(plan["http_connections"]))

    # The stubs' package pulls in much of the hub: imported before any clock starts.
    from grpc_api.gen.gridhub.v1 import person_pb2, person_pb2_grpc
    from grpc_api.rpc import grpc

    async with grpc.aio.insecure_channel(f"{HOST}:{plan['grpc_port']}") as channel:
        await asyncio.wait_for(channel.channel_ready(), 30)
        stub = person_pb2_grpc.PersonServiceStub(channel)  # type: ignore[no-untyped-call]

        async def http_send(i: int) -> str:
            path, token = http[i % len(http)]
            return await pool.get(path, token)

        async def grpc_send(i: int) -> str:
            uid, token = rpc[i % len(rpc)]
            try:
                await stub.GetPerson(
                    person_pb2.GetPersonRequest(uid=uid),
                    metadata=(("authorization", f"Bearer {token}"),),
                )
            except grpc.aio.AioRpcError as exc:
                return str(exc.code().name)
            return "OK"

        await pool.open()  # last: an idle connection would meet the keep-alive timeout
        print("ready", flush=True)
        await asyncio.gather(
            _drive("rest", float(plan["http_rate"]), http_send, plan, stop, samples),
            _drive("grpc", float(plan["grpc_rate"]), grpc_send, plan, stop, samples),
        )
    pool.close()
    return samples


def main(argv: list[str] | None = None) -> int:
    plan_path, out = (sys.argv[1:] if argv is None else argv)[:2]
    plan = json.loads(Path(plan_path).read_text(encoding="utf-8"))
    samples = asyncio.run(run(plan))
    Path(out).write_text(json.dumps(samples), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
