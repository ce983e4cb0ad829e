"""One keep-alive HTTP connection per thread to one host: what `srllm batch` (its workers) and
the upstream engine (the server's worker threads) use to talk to a server, standard library
only. Every thread's connection is registered, so close() can end them all, and with `abort`
unblock reads in progress (Ctrl-C, a server stopping)."""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import urllib.parse


class ThreadConnections:
    def __init__(self, url: str, timeout: float):
        parsed = urllib.parse.urlsplit(url)
        self._kind = (
            http.client.HTTPSConnection if parsed.scheme == "https" else http.client.HTTPConnection
        )
        self._host, self._port = parsed.hostname, parsed.port
        self.path = parsed.path.rstrip("/")  # the URL's path, to prefix every request with
        self.timeout = timeout
        self._local = threading.local()
        self._open: set[http.client.HTTPConnection] = set()
        self._lock = threading.Lock()

    def get(self) -> http.client.HTTPConnection:
        """This thread's connection, opened on first use (or again after drop or close)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._kind(self._host, self._port, timeout=self.timeout)
            self._local.conn = conn
        with self._lock:  # again after close(): a closed connection reopens on its next request
            self._open.add(conn)
        return conn

    def drop(self) -> None:
        """Close this thread's connection (a failure, or an answer left unread)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
            with self._lock:
                self._open.discard(conn)

    def close(self, abort: bool = False) -> None:
        """Close every thread's connection; with `abort`, shut their sockets first so that
        blocked reads end at once."""
        with self._lock:
            for conn in list(self._open):
                if abort and conn.sock is not None:
                    with contextlib.suppress(OSError):
                        conn.sock.shutdown(socket.SHUT_RDWR)
                conn.close()
            self._open.clear()
