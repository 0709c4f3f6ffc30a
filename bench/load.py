"""A small HTTP/1.1 keep-alive load generator on asyncio streams (127.0.0.1 only).

Much cheaper per request than an HTTP library, so on a 2-core machine the client takes as
little as possible from the server it measures. Understands what the service answers with
(Content-Length bodies; chunked bodies for the CSV export).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# One request: (method, path, headers, JSON body or None)
Request = tuple[str, str, dict[str, str], Any]


@dataclass
class Connection:
    host: str
    port: int
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    last_used: float = 0.0
    # uvicorn closes a keep-alive connection idle for 5 s (timeout_keep_alive); a
    # connection idle longer than this is reopened before the next request.
    max_idle: float = 3.0

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.last_used = time.monotonic()

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await self.writer.wait_closed()
            self.writer = self.reader = None

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: Any = None
    ) -> tuple[int, bytes]:
        if self.writer is not None and time.monotonic() - self.last_used > self.max_idle:
            await self.close()
        if self.writer is None:
            await self.open()
        assert self.reader is not None and self.writer is not None
        payload = b"" if body is None else json.dumps(body).encode()
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        if body is not None:
            lines += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + payload)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length, chunked, close = None, False, False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif name == b"connection" and b"close" in value.lower():
                close = True
        if chunked:
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                chunk = await self.reader.readexactly(size + 2)
                if size == 0:
                    break
                parts.append(chunk[:-2])
            data = b"".join(parts)
        else:
            data = await self.reader.readexactly(length or 0)
        self.last_used = time.monotonic()
        if close:
            await self.close()
        return status, data


@dataclass
class LoadResult:
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    # Every answer, the warm-up's too (for CPU per request over the whole run).
    answered: int = 0

    @property
    def requests(self) -> int:
        return len(self.latencies_ms)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    @property
    def errors(self) -> int:
        return sum(n for s, n in self.statuses.items() if not 200 <= s < 300)


async def _closed_loop(
    host: str,
    port: int,
    clients: int,
    seconds: float,
    next_request: Callable[[int, int], Request],
    warmup: float,
) -> LoadResult:
    """``clients`` connections, each sending its next request as soon as the previous
    answer is in, for ``warmup`` + ``seconds``; only the last ``seconds`` are counted."""
    connections = [Connection(host, port) for _ in range(clients)]
    for c in connections:
        await c.open()
    loop = asyncio.get_running_loop()
    start = loop.time()
    counted_from = start + warmup
    stop_at = counted_from + seconds
    result = LoadResult(seconds)

    async def client(index: int, conn: Connection) -> None:
        n = 0
        while True:
            now = loop.time()
            if now >= stop_at:
                return
            method, path, headers, body = next_request(index, n)
            n += 1
            t0 = time.perf_counter()
            status, _ = await conn.request(method, path, headers, body)
            elapsed = (time.perf_counter() - t0) * 1000
            result.answered += 1
            if now >= counted_from:
                result.latencies_ms.append(elapsed)
                result.statuses[status] = result.statuses.get(status, 0) + 1

    await asyncio.gather(*(client(i, c) for i, c in enumerate(connections)))
    for c in connections:
        await c.close()
    return result


def closed_loop(
    base_port: int,
    clients: int,
    seconds: float,
    next_request: Callable[[int, int], Request],
    warmup: float = 0.5,
) -> LoadResult:
    return asyncio.run(_closed_loop("127.0.0.1", base_port, clients, seconds, next_request, warmup))


class Sequential:
    """One keep-alive connection for sequential requests (latency figures), used from
    synchronous code."""

    def __init__(self, port: int) -> None:
        self.loop = asyncio.new_event_loop()
        self.conn = Connection("127.0.0.1", port)

    def request(
        self, method: str, path: str, headers: dict[str, str], body: Any = None
    ) -> tuple[int, bytes, float]:
        t0 = time.perf_counter()
        status, data = self.loop.run_until_complete(self.conn.request(method, path, headers, body))
        return status, data, (time.perf_counter() - t0) * 1000

    def close(self) -> None:
        self.loop.run_until_complete(self.conn.close())
        self.loop.close()
