"""`--log-frames`: one log line per frame in and out of a WebSocket session.

Tracing sits at the transport seam: `trace_session` puts a `TracedTransport` between the
session and its transport once the opening handshake is done, so every frame is seen
as it crosses the wire, whoever wrote it (the stream, or a handler writing raw bytes
with `request.connection.write`). Without `--log-frames` nothing here runs: the
session talks to its transport directly.
"""

from __future__ import annotations

import logging
from typing import Any

from mod_ws.logging_setup import FRAMES_LOGGER_NAME
from mod_ws.protocol.trace import FrameTracer
from mod_ws.server.reporting import format_address
from mod_ws.server.transport import Transport

_logger = logging.getLogger(FRAMES_LOGGER_NAME)


class TracedTransport:
    """A transport that shows every byte it carries to a tracer per direction."""

    def __init__(self, inner: Transport, incoming: FrameTracer, outgoing: FrameTracer) -> None:
        self._inner = inner
        self._incoming = incoming
        self._outgoing = outgoing
        self.secure = inner.secure

    def recv(self, size: int) -> bytes:
        data = self._inner.recv(size)
        self._incoming.feed(data)
        return data

    def recv_within(self, size: int, deadline: float) -> bytes:
        data = self._inner.recv_within(size, deadline)
        self._incoming.feed(data)
        return data

    def recv_ready(self, size: int) -> bytes | None:
        data = self._inner.recv_ready(size)
        if data:
            self._incoming.feed(data)
        return data

    def recv_into(self, buffer: memoryview) -> int:
        count = self._inner.recv_into(buffer)
        self._incoming.feed(buffer[:count])
        return count

    def sendall(self, data: bytes) -> None:
        self._outgoing.feed(data)
        self._inner.sendall(data)

    def __getattr__(self, name: str) -> Any:  # half_close, finish, abort, close, ...
        return getattr(self._inner, name)


def trace_session(request: Any) -> None:
    """Logs every frame of `request`'s session from now on (called after the 101)."""
    connection = request.connection
    prefix = f"{format_address(connection.remote_addr)} {request.ws_resource}"
    incoming = FrameTracer(lambda text: _logger.info("%s < %s", prefix, text))
    outgoing = FrameTracer(lambda text: _logger.info("%s > %s", prefix, text))
    reader = connection.reader
    incoming.feed(reader.data[reader.pos:])  # frames that arrived with the handshake
    traced = TracedTransport(connection.transport, incoming, outgoing)
    connection.transport = traced
    reader.replace_transport(traced)
    request.ws_stream.replace_sendall(traced.sendall)


__all__ = ["TracedTransport", "trace_session"]
