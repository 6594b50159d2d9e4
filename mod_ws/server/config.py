"""What every connection needs from the server's options: one object per server.

Built from the command line and config file by mod_ws.standalone, or directly by a
program that embeds the server; every default comes from mod_ws.defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mod_ws.defaults import (
    CGI_TIMEOUT,
    CLOSE_TIMEOUT,
    HANDSHAKE_TIMEOUT,
    MAX_MESSAGE_SIZE,
    MAX_REQUEST_HEADER_SIZE,
    PING_TIMEOUT,
    REQUEST_TIMEOUT,
    SEND_TIMEOUT,
)
from mod_ws.dispatch import Dispatcher
from mod_ws.server.session import StreamOptions
from mod_ws.server.status import StatusBoard
from mod_ws.server.transport import SocketTransport, TransportFactory
from mod_ws.server.watchdog import Watchdog


@dataclass
class ServerConfig:
    """The server's options as its connections read them."""

    document_root: Path
    dispatcher: Dispatcher
    validation_host: str | None = None
    validation_port: int | None = None
    request_timeout: float = REQUEST_TIMEOUT
    max_request_header_size: int = MAX_REQUEST_HEADER_SIZE
    close_timeout: float = CLOSE_TIMEOUT
    max_message_size: int = MAX_MESSAGE_SIZE
    send_timeout: float = SEND_TIMEOUT
    follow_symlinks_out: bool = False
    # The Authorization value every request must carry (mod_ws.server.basic_auth), or None.
    basic_auth: bytes | None = None
    # URL path prefixes whose executable files run as CGI programs (mod_ws.server.cgi).
    cgi_paths: list[str] = field(default_factory=list)
    cgi_timeout: float = CGI_TIMEOUT
    # --log-frames: every WebSocket frame in and out is logged (mod_ws.server.frame_trace).
    log_frames: bool = False
    max_frame_size: int | None = None  # --max-frame-size
    auto_fragment_size: int | None = None  # --auto-fragment-size
    max_connections: int | None = None  # --max-connections (the listener enforces it)
    # --handshake-timeout: from a request head's first byte to the 101.
    handshake_timeout: float = HANDSHAKE_TIMEOUT
    # --ping-interval (None: the server never pings) and --ping-timeout.
    ping_interval: float | None = None
    ping_timeout: float = PING_TIMEOUT
    # --latency and --latency-jitter (in seconds here) and --bandwidth (bytes/s, None:
    # unlimited): what the server writes after the 101 crosses a slow link
    # (mod_ws.server.shaping). All unset: nothing is shaped, no thread is started.
    latency: float = 0.0
    latency_jitter: float = 0.0
    bandwidth: int | None = None
    # Runs the bounds blocked connection threads cannot (mod_ws.server.watchdog).
    watchdog: Watchdog = field(default_factory=Watchdog, repr=False, compare=False)
    # The status page's record (mod_ws.server.status), or None: the page is off.
    status: StatusBoard | None = field(default=None, repr=False, compare=False)
    # Makes each accepted socket's transport (plain TCP by default; TLS plugs in here).
    transport_factory: TransportFactory = SocketTransport
    _stream_options: StreamOptions | None = field(default=None, init=False, repr=False,
                                                  compare=False)

    def stream_options(self) -> StreamOptions:
        """The limits of every stream: one shared object, not one per connection."""
        if self._stream_options is None:
            self._stream_options = StreamOptions(max_message_size=self.max_message_size,
                                                 close_timeout=self.close_timeout,
                                                 log_frames=self.log_frames,
                                                 max_frame_size=self.max_frame_size,
                                                 auto_fragment_size=self.auto_fragment_size,
                                                 keepalive=(self.watchdog, self.ping_interval,
                                                            self.ping_timeout)
                                                 if self.ping_interval else None,
                                                 shaping=(self.latency, self.latency_jitter,
                                                          self.bandwidth)
                                                 if self.latency or self.latency_jitter
                                                 or self.bandwidth is not None else None)
        return self._stream_options


__all__ = ["ServerConfig"]
