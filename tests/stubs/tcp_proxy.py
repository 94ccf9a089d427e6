"""A TCP proxy on 127.0.0.1 in front of a real Redis that can break the connection at a chosen
command: the fault "Redis went away between two round trips of one callback", at the network
level, with nothing of Duban replaced.

    proxy = BreakingProxy(("127.0.0.1", redis_port)).start()
    proxy.cut_at(b"https://example/a.html")  # the first request carrying these bytes is dropped,
                                             # every connection closed, new ones refused...
    proxy.restore()                          # ...until Redis is "back"
"""

from __future__ import annotations

import socket
import threading


class BreakingProxy:
    def __init__(self, upstream: tuple[str, int]):
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.marker: bytes | None = None
        self.down = threading.Event()
        self.cut = threading.Event()  # set once the marked request was dropped
        self.lock = threading.Lock()
        self.open: list[socket.socket] = []

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> BreakingProxy:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def cut_at(self, marker: bytes) -> None:
        self.marker = marker

    def restore(self) -> None:
        self.marker = None
        self.down.clear()

    def close(self) -> None:
        self.listener.close()
        self._drop_all()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.down.is_set():  # Redis is "down": the connection is closed at once
                client.close()
                continue
            server = socket.create_connection(self.upstream)
            with self.lock:
                self.open += [client, server]
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, from_client: bool) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if from_client and self.marker and self.marker in data:
                    self.down.set()
                    self.cut.set()
                    break  # dropped: Redis never sees this request
                dst.sendall(data)
        except OSError:
            pass
        if self.down.is_set():
            self._drop_all()
        else:
            for s in (src, dst):
                _close(s)

    def _drop_all(self) -> None:
        with self.lock:
            socks, self.open = self.open, []
        for s in socks:
            _close(s)


def _close(s: socket.socket) -> None:
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    s.close()
