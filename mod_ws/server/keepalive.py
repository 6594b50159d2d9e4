"""`--ping-interval` and `--ping-timeout`: the server pings open sessions and closes
those whose pong does not come back.

Off by default, as pywebsocket3 never pings by itself. The watchdog thread
(mod_ws.server.watchdog) sends each ping and checks for its pong, so a handler blocked
in `receive_message` costs nothing extra. Pongs are seen when they are read, which is
when the handler receives: a handler that only sends should leave keepalive off.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from mod_ws.common import STATUS_INTERNAL_ENDPOINT_ERROR
from mod_ws.exceptions import ConnectionTerminatedException
from mod_ws.protocol.closing import OPEN
from mod_ws.server.reporting import format_address
from mod_ws.server.watchdog import Watchdog

_logger = logging.getLogger(__name__)

TIMEOUT_REASON = "keepalive ping timeout"


class Keepalive:
    """Pings one session every `interval` seconds; closes it (1011) when a pong takes
    longer than `timeout`, and cuts it if the client does not answer that close."""

    def __init__(self, request: Any, watchdog: Watchdog, interval: float, timeout: float,
                 close_timeout: float) -> None:
        self._request = request
        self._stream = request.ws_stream
        self._watchdog = watchdog
        self._interval = interval
        self._timeout = timeout
        self._close_timeout = close_timeout
        self._ping_sent_at: float | None = None
        self._pongs_before = 0

    def start(self) -> None:
        self._watchdog.schedule(self._interval, self._tick)

    def _tick(self) -> None:
        stream = self._stream
        if self._request.close_handshake.state is not OPEN:
            return  # the session is closing or over: no more pings
        now = time.monotonic()
        if self._ping_sent_at is not None:
            if stream.pongs_received > self._pongs_before:
                self._ping_sent_at = None
            elif now - self._ping_sent_at >= self._timeout:
                self._give_up()
                return
            else:
                self._watchdog.schedule(self._ping_sent_at + self._timeout - now, self._tick)
                return
        self._pongs_before = stream.pongs_received
        if stream.send_keepalive_ping():
            self._ping_sent_at = now
            self._watchdog.schedule(min(self._interval, self._timeout), self._tick)
        else:  # a send in progress holds the connection: data is flowing; try later
            self._watchdog.schedule(self._interval, self._tick)

    def _give_up(self) -> None:
        _logger.info("%s %s: no pong within %g s: closing with 1011",
                     format_address(self._request.connection.remote_addr),
                     self._request.ws_resource, self._timeout)
        try:
            self._stream.close_connection(STATUS_INTERNAL_ENDPOINT_ERROR, TIMEOUT_REASON,
                                          wait_response=False)
        except (ConnectionTerminatedException, OSError):
            pass
        transport = self._request.connection.transport

        def cut() -> None:  # the client did not answer the close either
            try:
                transport.abort()
            except OSError:
                pass

        self._watchdog.schedule(self._close_timeout, cut)


__all__ = ["Keepalive", "TIMEOUT_REASON"]
