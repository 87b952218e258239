"""A real syslog collector on 127.0.0.1 for the tests: UDP datagrams, or TCP/TLS streams
framed by octet counting (RFC 6587 / RFC 5425); it keeps every message it receives."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress


def _read_framed(stream: socket.socket, out: list[bytes]) -> None:
    buffer = b""
    while True:
        chunk = stream.recv(65536)
        if not chunk:
            return
        buffer += chunk
        while b" " in buffer:
            length, _, rest = buffer.partition(b" ")
            if len(rest) < int(length):
                break
            out.append(rest[: int(length)])
            buffer = rest[int(length) :]


@contextmanager
def collector(
    scheme: str, context: ssl.SSLContext | None = None
) -> Iterator[tuple[str, list[bytes]]]:
    """Yields (its URL, the messages received so far)."""
    received: list[bytes] = []
    kind = socket.SOCK_DGRAM if scheme == "udp" else socket.SOCK_STREAM
    server = socket.socket(socket.AF_INET, kind)
    server.bind(("127.0.0.1", 0))
    server.settimeout(10)
    port = server.getsockname()[1]
    if scheme != "udp":
        server.listen()  # before the sender can connect

    def serve() -> None:
        try:
            if scheme == "udp":
                while True:
                    received.append(server.recv(65536))
            while True:
                conn, _ = server.accept()
                with conn:
                    stream = context.wrap_socket(conn, server_side=True) if context else conn
                    _read_framed(stream, received)
        except OSError:  # closed by the test, or idle for 10 s
            return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"{scheme}://127.0.0.1:{port}", received
    finally:
        with suppress(OSError):  # UDP: nothing to shut down
            server.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in accept()
        server.close()
        thread.join(timeout=5)
