"""aioquic's QuicConnection with stream credit granted by the reader, not by arrival.

aioquic raises a stream's MAX_STREAM_DATA by itself: whenever the peer has used half
of the window, the window doubles, whether or not anyone read what arrived. A
WebSocket handler that stops reading would then let its peer fill the server's memory.
Here the request streams (client-initiated, bidirectional) get credit only through
`grant`, which the connection calls as the stream's handler reads; aioquic's own
policy still runs for the other streams (HTTP/3 control and QPACK streams) and for
the connection-wide MAX_DATA (bounded anyway by the per-stream windows).

aioquic has no public hook for this, so the internals it takes live here and nowhere
else: its per-stream state (`QuicConnection._streams`), whose receive limit
`max_stream_data_local` `grant` raises; `_write_stream_limits` (called for every stream
as each packet is built), overridden so that request streams announce that limit and
never double it, writing MAX_STREAM_DATA as aioquic does (with its
`_on_max_stream_data_delivery` to resend a lost one); `send_backlog`, the stream's
unacknowledged bytes (`sender._buffer`); and `h3_buffered`, the bytes the HTTP/3 layer
holds in an unfinished frame (`H3Connection._stream[...].buffer`), which count as
unread when credit is computed.
"""

from __future__ import annotations

from aioquic.h3.connection import H3Connection
from aioquic.quic.connection import (
    MAX_STREAM_DATA_FRAME_CAPACITY,
    QuicConnection,
    stream_is_client_initiated,
    stream_is_unidirectional,
)
from aioquic.quic.packet import QuicFrameType


def is_request_stream(stream_id: int) -> bool:
    """A client-initiated bidirectional stream: an HTTP/3 request."""
    return stream_is_client_initiated(stream_id) and not stream_is_unidirectional(stream_id)


class CreditedQuicConnection(QuicConnection):
    """A server QuicConnection whose request streams grow their receive window only
    by `grant` (a request stream never granted keeps its initial window)."""

    def grant(self, stream_id: int, limit: int) -> bool:
        """Lets the peer send on the stream up to offset `limit` (a limit never
        shrinks; the next packet announces it); True if that raised it."""
        stream = self._streams.get(stream_id)
        if stream is None or stream.receiver.is_finished or limit <= stream.max_stream_data_local:
            return False
        stream.max_stream_data_local = limit
        return True

    def window(self, stream_id: int) -> int:
        """The offset the peer may send the stream up to now (0 for a gone stream)."""
        stream = self._streams.get(stream_id)
        return 0 if stream is None else stream.max_stream_data_local

    def received(self, stream_id: int) -> int:
        """The stream's bytes received in order and handed on (0 for a gone stream)."""
        stream = self._streams.get(stream_id)
        return 0 if stream is None else stream.receiver.starting_offset()

    def has_stream(self, stream_id: int) -> bool:
        """Does aioquic still keep the stream's state (it drops a stream once both
        directions are over)?"""
        return stream_id in self._streams

    def send_backlog(self, stream_id: int) -> int:
        """Bytes of the stream written to aioquic and not yet acknowledged by the peer
        (0 once the stream is gone)."""
        stream = self._streams.get(stream_id)
        return 0 if stream is None else len(stream.sender._buffer)

    def _write_stream_limits(self, builder, space, stream) -> None:
        stream_id = stream.stream_id
        if stream_id is None or not is_request_stream(stream_id):
            super()._write_stream_limits(builder, space, stream)
            return
        if stream.max_stream_data_local_sent == stream.max_stream_data_local:
            return
        buf = builder.start_frame(QuicFrameType.MAX_STREAM_DATA,
                                  capacity=MAX_STREAM_DATA_FRAME_CAPACITY,
                                  handler=self._on_max_stream_data_delivery,
                                  handler_args=(stream,))
        buf.push_uint_var(stream_id)
        buf.push_uint_var(stream.max_stream_data_local)
        stream.max_stream_data_local_sent = stream.max_stream_data_local


def h3_buffered(h3: H3Connection, stream_id: int) -> int:
    """Bytes of the stream the HTTP/3 layer holds in a frame not yet complete (a
    frame header split across packets, or a HEADERS frame arriving)."""
    stream = h3._stream.get(stream_id)
    return 0 if stream is None else len(stream.buffer)


__all__ = ["CreditedQuicConnection", "h3_buffered", "is_request_stream"]
