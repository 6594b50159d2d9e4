"""A blocking HTTP/2 client for the tests, independent of the server's code: the `h2`
library keeps the HTTP/2 state, `wsproto` frames the WebSockets its streams carry
(RFC 8441), and every wait is bounded.
"""

from __future__ import annotations

import socket
import ssl
import time
from pathlib import Path
from typing import Any, Callable

import h2.config
import h2.connection
import h2.events
import h2.settings
from wsproto.connection import Connection as WsConnection
from wsproto.connection import ConnectionType
from wsproto.events import (
    BytesMessage,
    CloseConnection,
    Message,
    Ping,
    TextMessage,
)
from wsproto.extensions import PerMessageDeflate

CERT = Path(__file__).resolve().parent.parent / "cert"


class StreamState:
    """What has arrived on one stream."""

    def __init__(self) -> None:
        self.headers: list[tuple[str, str]] | None = None
        self.data = bytearray()
        self.ended = False
        self.reset: int | None = None  # the error code of the peer's RST_STREAM

    @property
    def status(self) -> int | None:
        return int(dict(self.headers)[":status"]) if self.headers else None

    def header(self, name: str) -> str | None:
        return dict(self.headers or []).get(name)


class H2Client:
    """One HTTP/2 connection over TLS to a server on loopback."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 5.0,
                 alpn: tuple[str, ...] = ("h2", "http/1.1"), auto_window: bool = True,
                 window: int | None = None, validate: bool = True) -> None:
        context = ssl.create_default_context(cafile=str(CERT / "ca.pem"))
        context.set_alpn_protocols(list(alpn))
        raw = socket.create_connection((host, port), timeout=timeout)
        self.sock = context.wrap_socket(raw, server_hostname="localhost")
        self.timeout = timeout
        self.negotiated = self.sock.selected_alpn_protocol()
        self.auto_window = auto_window
        # validate=False sends header blocks h2 would refuse to (malformed ones).
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(
            client_side=True, header_encoding="utf-8", validate_outbound_headers=validate,
            normalize_outbound_headers=validate))
        if window is not None:
            self.h2.local_settings = h2.settings.Settings(client=True, initial_values={
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: window})
        self.streams: dict[int, StreamState] = {}
        self.terminated: Any = None  # the server's GOAWAY event
        self.closed = False  # the server closed the TCP connection
        self.remote_settings: dict[int, int] = {}
        self.h2.initiate_connection()
        self.flush()

    # Plumbing.

    def flush(self) -> None:
        data = self.h2.data_to_send()
        if data:
            self.sock.sendall(data)

    def pump(self, timeout: float) -> bool:
        """Reads once (up to `timeout`) and handles what came; False once closed."""
        if self.closed:
            return False
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return True
        except (ssl.SSLError, OSError):
            self.closed = True
            return False
        if not data:
            self.closed = True
            return False
        for event in self.h2.receive_data(data):
            self._on_event(event)
        self.flush()
        return True

    def _on_event(self, event: Any) -> None:
        if isinstance(event, h2.events.ResponseReceived):
            self._stream(event.stream_id).headers = event.headers
        elif isinstance(event, h2.events.DataReceived):
            self._stream(event.stream_id).data += event.data
            if self.auto_window:
                self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        elif isinstance(event, h2.events.StreamEnded):
            self._stream(event.stream_id).ended = True
        elif isinstance(event, h2.events.StreamReset):
            self._stream(event.stream_id).reset = int(event.error_code)
        elif isinstance(event, h2.events.RemoteSettingsChanged):
            for code, setting in event.changed_settings.items():
                self.remote_settings[int(code)] = setting.new_value
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.terminated = event

    def _stream(self, stream_id: int) -> StreamState:
        return self.streams.setdefault(stream_id, StreamState())

    def wait(self, predicate: Callable[[], bool], timeout: float | None = None) -> bool:
        """Pumps until `predicate()` holds (True) or `timeout` passes (False)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while not predicate():
            left = deadline - time.monotonic()
            if left <= 0 or not self.pump(min(left, 0.5)):
                return predicate()
        return True

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self) -> "H2Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Requests.

    def request(self, fields: list[tuple[str, str]], end_stream: bool = True) -> int:
        stream_id = self.h2.get_next_available_stream_id()
        self._stream(stream_id)
        self.h2.send_headers(stream_id, fields, end_stream=end_stream)
        self.flush()
        return stream_id

    def get(self, path: str, method: str = "GET", extra: list[tuple[str, str]] | None = None) -> StreamState:
        """A whole GET (or HEAD) exchange: the stream once it has ended or was reset."""
        stream_id = self.request([(":method", method), (":scheme", "https"),
                                  (":authority", "localhost"), (":path", path)] + (extra or []))
        state = self.streams[stream_id]
        self.wait(lambda: state.ended or state.reset is not None)
        return state

    def open_websocket(self, path: str = "/echo", protocols: list[str] | None = None,
                       deflate: bool = False, extra: list[tuple[str, str]] | None = None,
                       protocol: str = "websocket", wait: bool = True) -> "WebSocketStream":
        """An extended CONNECT (RFC 8441 section 4); waits for the answer."""
        fields = [(":method", "CONNECT"), (":protocol", protocol), (":scheme", "https"),
                  (":path", path), (":authority", "localhost"), ("sec-websocket-version", "13"),
                  ("origin", "https://localhost")]
        if protocols:
            fields.append(("sec-websocket-protocol", ", ".join(protocols)))
        if deflate:
            fields.append(("sec-websocket-extensions", "permessage-deflate"))
        stream_id = self.request(fields + (extra or []), end_stream=False)
        websocket = WebSocketStream(self, stream_id)
        if wait:
            websocket.wait_for_answer()
        return websocket


class WebSocketStream:
    """One WebSocket on a stream of an H2Client, framed by wsproto."""

    def __init__(self, client: H2Client, stream_id: int) -> None:
        self.client = client
        self.stream_id = stream_id
        self.state = client.streams[stream_id]
        self.ws: WsConnection | None = None
        self._events: list = []

    @property
    def status(self) -> int | None:
        return self.state.status

    def wait_for_answer(self) -> None:
        state = self.state
        self.client.wait(lambda: state.headers is not None or state.reset is not None)
        if state.status == 200:
            extensions = []
            accepted = state.header("sec-websocket-extensions")
            if accepted:
                deflate = PerMessageDeflate()
                deflate.finalize(accepted)
                extensions.append(deflate)
            self.ws = WsConnection(ConnectionType.CLIENT, extensions=extensions)

    def send(self, event: Any) -> None:
        self.send_raw(self.ws.send(event))

    def send_raw(self, data: bytes, end_stream: bool = False) -> None:
        """Sends `data` as DATA frames, as the server's windows allow (bounded wait)."""
        client = self.client
        view = memoryview(data)
        while view:
            window = min(client.h2.local_flow_control_window(self.stream_id),
                         client.h2.max_outbound_frame_size)
            if window <= 0:
                opened = client.wait(lambda: client.h2.local_flow_control_window(self.stream_id) > 0)
                assert opened, "the server's flow-control window stayed shut"
                continue
            client.h2.send_data(self.stream_id, bytes(view[:window]))
            client.flush()
            view = view[window:]
        if end_stream:
            client.h2.end_stream(self.stream_id)
        client.flush()

    def send_text(self, text: str) -> None:
        self.send(TextMessage(data=text))

    def send_bytes(self, data: bytes) -> None:
        self.send(BytesMessage(data=data))

    def close(self, code: int = 1000, reason: str = "") -> None:
        self.send(CloseConnection(code=code, reason=reason))

    def next_event(self, timeout: float | None = None) -> Any:
        """The next WebSocket event (a whole message, a close, a ping); None on timeout."""
        deadline = time.monotonic() + (self.client.timeout if timeout is None else timeout)
        partial: list = []
        while True:
            while self._events:
                event = self._events.pop(0)
                if isinstance(event, Message):
                    partial.append(event)
                    if event.message_finished:
                        joined = (b"" if isinstance(event, BytesMessage) else "").join(
                            e.data for e in partial)
                        return type(event)(data=joined)
                    continue
                if isinstance(event, Ping):
                    self.send(event.response())
                return event
            state = self.state
            if state.data:
                data = bytes(state.data)
                state.data.clear()
                self.ws.receive_data(data)
                self._events.extend(self.ws.events())
                continue
            if state.ended or state.reset is not None or time.monotonic() >= deadline:
                return None
            self.client.pump(min(0.5, max(0.001, deadline - time.monotonic())))

    def receive(self, timeout: float | None = None) -> Any:
        """The data of the next message (str or bytes); fails on anything else."""
        event = self.next_event(timeout)
        assert isinstance(event, (TextMessage, BytesMessage)), f"expected a message, got {event!r}"
        return event.data

    def wait_ended(self, timeout: float | None = None) -> bool:
        """Waits for the server's END_STREAM (or reset)."""
        state = self.state
        return self.client.wait(lambda: state.ended or state.reset is not None, timeout)
