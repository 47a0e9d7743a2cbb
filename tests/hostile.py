"""Helpers for trying the app as an attacker would: a listener that counts who connects, and hostile text."""

from __future__ import annotations

import socket
import threading


class Listener:
    """A TCP listener on 127.0.0.1 that counts connections. It never answers (a URL that never
    loads), or with `answer=True` sends a tiny image, as a real tracker would."""

    def __init__(self, answer: bool = False) -> None:
        self.answer = answer
        self.connections = 0
        self.requests: list[bytes] = []
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._socket.getsockname()[1]}"

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._socket.accept()
            except OSError:
                return
            self.connections += 1
            self._held.append(connection)
            if self.answer:
                connection.settimeout(2)
                try:
                    self.requests.append(connection.recv(4096))
                    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: image/gif\r\nContent-Length: 0\r\n"
                                       b"Connection: close\r\n\r\n")
                except OSError:
                    pass

    def close(self) -> None:
        self._socket.close()
        for connection in self._held:
            connection.close()

    def __enter__(self) -> Listener:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def hostile(url: str, tag: str) -> str:
    """Text that would make a browser fetch `url` (tagged, to tell which output leaked) if it were
    rendered as Markdown or HTML, and that tries to break out of a code span first."""
    return (f"`` ` ![{tag}]({url}/{tag}-image.png) <img src=\"{url}/{tag}-tag.png\"> "
            f"<iframe src=\"{url}/{tag}-frame\"></iframe> [{tag}-ref]: {url}/{tag}-ref.png")
