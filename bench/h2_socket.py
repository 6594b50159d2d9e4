"""One WebSocket over HTTP/2 (RFC 8441) with the few socket methods bench.py's
scenarios call, so `--h2` measures the same scenarios over an extended CONNECT.

The h2 library (not the server's code) keeps the client's HTTP/2 state. `recv` returns
what arrived on the WebSocket's stream (returning its window at once), `sendall` sends
DATA frames as the server's windows allow, `shutdown` ends the stream.
"""

from __future__ import annotations

import socket
import ssl

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings

# The client's receive window per stream: a 1 MiB echo should not wait on it.
CLIENT_WINDOW = 1 << 24


class H2StreamSocket:
    """The stream of one extended CONNECT, read and written like a socket."""

    def __init__(self, sock: ssl.SSLSocket, path: str, authority: str,
                 extensions: str | None = None) -> None:
        if sock.selected_alpn_protocol() != "h2":
            raise ConnectionError(f"ALPN chose {sock.selected_alpn_protocol()!r}, not h2 "
                                  "(is the server started with --http2?)")
        self.sock = sock
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(
            client_side=True, header_encoding="utf-8"))
        self.conn.local_settings = h2.settings.Settings(client=True, initial_values={
            h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: CLIENT_WINDOW})
        self.conn.initiate_connection()
        self.conn.increment_flow_control_window(CLIENT_WINDOW)
        self.stream_id = self.conn.get_next_available_stream_id()
        fields = [(":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "https"),
                  (":path", path), (":authority", authority), ("sec-websocket-version", "13")]
        if extensions:
            fields.append(("sec-websocket-extensions", extensions))
        self.conn.send_headers(self.stream_id, fields)
        self._flush()
        self._data = bytearray()
        self._ended = False
        self.response: list[tuple[str, str]] | None = None
        while self.response is None:
            if not self._read():
                raise ConnectionError("connection closed during the extended CONNECT")
        status = dict(self.response).get(":status")
        if status != "200":
            raise ConnectionError(f"extended CONNECT answered {status}")

    def _flush(self) -> None:
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def _read(self) -> bool:
        data = self.sock.recv(262144)
        if not data:
            self._ended = True
            return False
        for event in self.conn.receive_data(data):
            if getattr(event, "stream_id", None) != self.stream_id:
                continue
            if isinstance(event, h2.events.DataReceived):
                self._data += event.data
                self.conn.acknowledge_received_data(event.flow_controlled_length, self.stream_id)
            elif isinstance(event, h2.events.ResponseReceived):
                self.response = event.headers
            elif isinstance(event, (h2.events.StreamEnded, h2.events.StreamReset)):
                self._ended = True
        self._flush()
        return True

    def header(self, name: str) -> str | None:
        return dict(self.response or []).get(name)

    def recv(self, size: int) -> bytes:
        while not self._data and not self._ended:
            self._read()
        data = bytes(self._data[:size])
        del self._data[:size]
        return data

    def sendall(self, data: bytes) -> None:
        view = memoryview(data)
        conn = self.conn
        while view:
            window = min(conn.local_flow_control_window(self.stream_id), conn.max_outbound_frame_size)
            if window <= 0:
                if not self._read():
                    raise ConnectionError("connection closed while waiting for the window")
                continue
            conn.send_data(self.stream_id, bytes(view[:window]))
            view = view[window:]
            self._flush()

    def settimeout(self, timeout: float | None) -> None:
        self.sock.settimeout(timeout)

    def shutdown(self, how: int) -> None:
        if how in (socket.SHUT_WR, socket.SHUT_RDWR) and not self._ended:
            try:
                self.conn.end_stream(self.stream_id)
                self._flush()
            except (h2.exceptions.ProtocolError, OSError):
                pass

    def close(self) -> None:
        self.sock.close()

    def fileno(self) -> int:
        return self.sock.fileno()
