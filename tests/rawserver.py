"""A raw socket server on loopback for the connectors' HTTP tests: it records each request's bytes
and answers with whatever its handler writes, well-formed or not."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable

Handler = Callable[[socket.socket, bytes], bool]  # (connection, request) -> keep the connection open


class RawServer:
    """Accepts connections and hands each request (head and Content-Length body) to `handler`."""

    def __init__(self, handler: Handler):
        self.handler = handler
        self.requests: list[bytes] = []
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            self._exchange(conn)
        except ConnectionResetError:  # the client hung up on an answer it would not read
            conn.close()

    def _exchange(self, conn: socket.socket) -> None:
        with conn:
            reader = conn.makefile("rb")
            while True:
                head = b""
                while not head.endswith(b"\r\n\r\n"):
                    line = reader.readline()
                    if not line:
                        return
                    head += line
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length")
                    ),
                    0,
                )
                request = head + reader.read(length)
                self.requests.append(request)
                if not self.handler(conn, request):
                    return

    def close(self) -> None:
        self._listener.close()


def answer(status: str = "200 OK", body: bytes = b'{"ok":true}', *headers: str) -> bytes:
    lines = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", "Content-Type: application/json", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def replying(data: bytes, *, keep: bool = True) -> Handler:
    def handler(conn: socket.socket, request: bytes) -> bool:
        conn.sendall(data)
        return keep

    return handler
