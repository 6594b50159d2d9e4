"""An HTTP/1.1-to-HTTP/2 WebSocket relay for tests: Autobahn's client speaks only
HTTP/1.1, so this carries each of its WebSockets over HTTP/2 to the server.

    bridge = H2Bridge("127.0.0.1", server_port, cafile="cert/ca.pem")
    port = bridge.start()    # ws://127.0.0.1:port/ now reaches the server over h2
    ...
    bridge.stop()

Each accepted connection's opening handshake (an HTTP/1.1 Upgrade) becomes an extended
CONNECT (RFC 8441) on an HTTP/2 connection of its own to the server (TLS, ALPN h2,
verified against `cafile` for "localhost"), with the client's Sec-WebSocket-Protocol,
-Extensions and Origin; the server's `:status 200` becomes a 101 with the Accept value
computed here. From then on the WebSocket frames pass unchanged both ways: the client's
bytes as DATA frames within the server's flow-control windows, the server's DATA back
(its window returned once the bytes are written on). END_STREAM and a TCP FIN map to
each other; a reset closes the client's connection. One thread per connection drives
both sockets with select; the h2 library (not the server's code) keeps the HTTP/2 state.
"""

from __future__ import annotations

import base64
import hashlib
import select
import socket
import ssl
import threading
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
CONNECT_TIMEOUT = 10.0
IDLE_TIMEOUT = 60.0
_RELAYED = ("sec-websocket-protocol", "sec-websocket-extensions", "origin", "sec-websocket-version")


class H2Bridge:
    """Listens on loopback; relays each connection (see the module docstring)."""

    def __init__(self, host: str, port: int, cafile: str, server_hostname: str = "localhost") -> None:
        self._target = (host, port)
        self._context = ssl.create_default_context(cafile=cafile)
        self._context.set_alpn_protocols(["h2"])
        self._hostname = server_hostname
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()

    def start(self) -> int:
        self._listener = socket.create_server(("127.0.0.1", 0))
        thread = threading.Thread(target=self._accept, name="h2 bridge", daemon=True)
        thread.start()
        self._threads.append(thread)
        return self._listener.getsockname()[1]

    def stop(self) -> None:
        self._stopping.set()
        if self._listener is not None:
            self._listener.close()
        for thread in self._threads:
            thread.join(5)

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._relay, args=(client,), daemon=True)
            thread.start()
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]

    def _relay(self, client: socket.socket) -> None:
        try:
            with client:
                _Relay(client, self._target, self._context, self._hostname, self._stopping).run()
        except (OSError, ValueError, h2.exceptions.ProtocolError):
            pass


class _Relay:
    def __init__(self, client: socket.socket, target: tuple, context: ssl.SSLContext,
                 hostname: str, stopping: threading.Event) -> None:
        self.client = client
        self.target = target
        self.context = context
        self.hostname = hostname
        self.stopping = stopping
        self.pending = b""  # client bytes waiting for the server's window
        self.client_done = False  # the client sent FIN
        self.server_done = False  # the server sent END_STREAM

    def _read_head(self) -> tuple[str, dict[str, str]] | None:
        self.client.settimeout(CONNECT_TIMEOUT)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self.client.recv(4096)
            if not chunk or len(data) > 65536:
                return None
            data += chunk
        head, _, self.pending = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        target = lines[0].split(" ")[1]
        fields: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            key = name.strip().lower()
            fields[key] = f"{fields[key]}, {value.strip()}" if key in fields else value.strip()
        return target, fields

    def run(self) -> None:
        request = self._read_head()
        if request is None:
            return
        target, fields = request
        raw = socket.create_connection(self.target, timeout=CONNECT_TIMEOUT)
        for sock in (raw, self.client):  # small frames go at once, both ways
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.context.wrap_socket(raw, server_hostname=self.hostname) as server:
            self.server = server
            conn = self.conn = h2.connection.H2Connection(h2.config.H2Configuration(
                client_side=True, header_encoding="utf-8"))
            conn.initiate_connection()
            self.stream_id = conn.get_next_available_stream_id()
            headers = [(":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "https"),
                       (":path", target), (":authority", self.hostname)]
            headers += [(name, fields[name]) for name in _RELAYED if name in fields]
            conn.send_headers(self.stream_id, headers)
            server.sendall(conn.data_to_send())
            response = self._wait_for_response()
            if response is None:
                return
            status = dict(response).get(":status")
            if status != "200":
                self.client.sendall(f"HTTP/1.1 {status} Refused\r\nContent-Length: 0\r\n"
                                    "Connection: close\r\n\r\n".encode("latin-1"))
                return
            accept = base64.b64encode(hashlib.sha1(fields.get("sec-websocket-key", "").encode()
                                                   + _GUID).digest()).decode()
            answer = ["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket",
                      "Connection: Upgrade", f"Sec-WebSocket-Accept: {accept}"]
            answer += [f"{name}: {value}" for name, value in response
                       if name in ("sec-websocket-protocol", "sec-websocket-extensions")]
            self.client.sendall(("\r\n".join(answer) + "\r\n\r\n").encode("latin-1"))
            self._pipe()

    def _wait_for_response(self) -> list | None:
        deadline = time.monotonic() + CONNECT_TIMEOUT
        while time.monotonic() < deadline:
            self.server.settimeout(max(0.01, deadline - time.monotonic()))
            data = self.server.recv(65536)
            if not data:
                return None
            for event in self.conn.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived) and event.stream_id == self.stream_id:
                    self._flush()
                    return event.headers
                if isinstance(event, (h2.events.StreamReset, h2.events.ConnectionTerminated)):
                    return None
            self._flush()
        return None

    def _flush(self) -> None:
        data = self.conn.data_to_send()
        if data:
            self.server.sendall(data)

    def _send_pending(self) -> None:
        conn = self.conn
        while self.pending:
            window = min(conn.local_flow_control_window(self.stream_id), conn.max_outbound_frame_size)
            if window <= 0:
                break
            conn.send_data(self.stream_id, self.pending[:window])
            self.pending = self.pending[window:]
        if self.client_done and not self.pending:
            try:
                conn.end_stream(self.stream_id)
            except h2.exceptions.StreamClosedError:
                pass
            self.client_done = None  # ended: nothing more to send
        self._flush()

    def _pipe(self) -> None:
        self.client.setblocking(False)
        self.server.setblocking(False)
        self._send_pending()
        last = time.monotonic()
        while not self.stopping.is_set():
            if self.server_done and self.client_done is None:
                return
            watch = [self.server]
            if self.client_done is False and not self.pending:
                watch.append(self.client)
            ready = [self.server] if self.server.pending() else select.select(watch, [], [], 0.5)[0]
            if not ready:
                if time.monotonic() - last > IDLE_TIMEOUT:
                    return
                continue
            last = time.monotonic()
            if self.client in ready:
                try:
                    data = self.client.recv(65536)
                except (BlockingIOError, InterruptedError):
                    data = None
                except OSError:
                    data = b""
                if data == b"":
                    self.client_done = True
                elif data:
                    self.pending += data
                self._send_pending()
            if self.server in ready:
                try:
                    data = self.server.recv(65536)
                except (ssl.SSLWantReadError, BlockingIOError):
                    continue
                if not data:
                    return
                for event in self.conn.receive_data(data):
                    if getattr(event, "stream_id", None) != self.stream_id:
                        continue
                    if isinstance(event, h2.events.DataReceived):
                        self.client.setblocking(True)
                        self.client.sendall(event.data)
                        self.client.setblocking(False)
                        self.conn.acknowledge_received_data(event.flow_controlled_length,
                                                            self.stream_id)
                    elif isinstance(event, h2.events.StreamEnded):
                        self.server_done = True
                        try:
                            self.client.shutdown(socket.SHUT_WR)
                        except OSError:
                            pass
                    elif isinstance(event, h2.events.StreamReset):
                        return
                self._send_pending()
