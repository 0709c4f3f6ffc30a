#!/usr/bin/env python3
"""Readiness probe for the test Kafka broker (stdlib only, no kafka client needed).

Sends a raw MetadataRequest v4 (the oldest version Kafka 4.x still accepts,
also understood by 3.x) and exits 0 only when the broker answers with at
least one registered broker. Usage: probe.py HOST PORT [TIMEOUT_SECONDS]
"""
import socket
import struct
import sys


def _read_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed by broker")
        buf += chunk
    return buf


def probe(host: str, port: int, timeout: float) -> list[tuple[int, str, int]]:
    client_id = b"debtcases-probe"
    correlation_id = 4242
    # request header v1: api_key=3 (Metadata), api_version=4, correlation_id, client_id
    header = struct.pack(">hhih", 3, 4, correlation_id, len(client_id)) + client_id
    # body v4: topics = null (-1 => all topics), allow_auto_topic_creation = false
    body = struct.pack(">ib", -1, 0)
    msg = header + body
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(struct.pack(">i", len(msg)) + msg)
        (size,) = struct.unpack(">i", _read_exact(sock, 4))
        data = _read_exact(sock, size)
    pos = 0

    def take(fmt: str):
        nonlocal pos
        vals = struct.unpack_from(fmt, data, pos)
        pos += struct.calcsize(fmt)
        return vals

    def take_str() -> str | None:
        nonlocal pos
        (ln,) = take(">h")
        if ln < 0:
            return None
        s = data[pos : pos + ln].decode()
        pos += ln
        return s

    (corr,) = take(">i")
    if corr != correlation_id:
        raise ValueError(f"unexpected correlation id {corr}")
    take(">i")  # throttle_time_ms
    (n_brokers,) = take(">i")
    brokers = []
    for _ in range(n_brokers):
        (node_id,) = take(">i")
        bhost = take_str()
        (bport,) = take(">i")
        take_str()  # rack
        brokers.append((node_id, bhost or "", bport))
    return brokers


def main() -> int:
    host, port = sys.argv[1], int(sys.argv[2])
    timeout = float(sys.argv[3]) if len(sys.argv) > 3 else 3.0
    try:
        brokers = probe(host, port, timeout)
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        print(f"not ready: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    if not brokers:
        print("not ready: metadata lists no broker yet", file=sys.stderr)
        return 1
    print(" ".join(f"{n}@{h}:{p}" for n, h, p in brokers))
    return 0


if __name__ == "__main__":
    sys.exit(main())
