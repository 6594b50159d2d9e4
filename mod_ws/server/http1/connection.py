"""One HTTP/1.1 connection, from its first request head to its last byte.

Reads request heads within size and time bounds, then either completes a WebSocket
Upgrade (this carrier's checks in `upgrade`, the shared steps in mod_ws.server.accept)
and runs the session (mod_ws.server.session), or serves a static file, keeping the
connection alive for the next request. Every refusal is an HTTP status with a
one-line reason, logged.
"""

from __future__ import annotations

import logging
import time
from http import HTTPStatus
from urllib.parse import urlsplit

from mod_ws.common import (
    HTTP_STATUS_BAD_REQUEST,
    HTTP_STATUS_HEADERS_TOO_LARGE,
    HTTP_STATUS_NOT_IMPLEMENTED,
    HTTP_STATUS_REQUEST_TIMEOUT,
    format_extensions,
)
from mod_ws.defaults import LINGER_TIMEOUT
from mod_ws.exceptions import (
    ConnectionTerminatedException,
    HandshakeException,
    HttpError,
)
from mod_ws.protocol.closing import FAILED
from mod_ws.server import session
from mod_ws.server.accept import accept_within, missing_handler
from mod_ws.server.basic_auth import check_authorization
from mod_ws.server.cgi import CgiScript, cgi_environment, find_cgi_script, request_body_length, run_cgi
from mod_ws.server.config import ServerConfig
from mod_ws.server.faults import write_trickled
from mod_ws.server.http1.request_head import (
    HEAD_END,
    RequestHead,
    check_head_start,
    parse_request_head,
)
from mod_ws.server.http1.upgrade import build_response_headers, check_upgrade_request, wants_websocket
from mod_ws.server.pages import (
    SERVER_NAME,
    Page,
    check_method,
    refusal_body,
    static_page,
    status_page,
)
from mod_ws.server.reporting import format_address, log_access, masked_headers, note_refusal
from mod_ws.server.request import Connection, WebSocketRequest
from mod_ws.server.status import STATUS_JSON_PATH, STATUS_PATH
from mod_ws.server.transport import Transport

_logger = logging.getLogger("mod_ws.http")

_KNOWN_METHODS = frozenset(("POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT"))
_DRAIN_LIMIT = 1 << 20  # bytes read and discarded while closing a connection
_FILE_CHUNK = 1 << 16


def _format_response(status: int, headers: list[tuple[str, str]]) -> bytes:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Unknown"
    lines = [f"HTTP/1.1 {status} {phrase}"]
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def refusal(status: int, reason: str, headers: list[tuple[str, str]] | None = None,
            with_body: bool = True) -> bytes:
    """A whole error response: the status, a one-line `STATUS Phrase: reason` text body
    (left out, its length kept, when `with_body` is False: an answer to HEAD), and
    Connection: close."""
    body = refusal_body(status, reason)
    return _format_response(status, [("Server", SERVER_NAME)] + (headers or []) + [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", str(len(body))),
        ("Connection", "close"),
    ]) + (body if with_body else b"")


def _request_line(head: RequestHead | None) -> str:
    """`METHOD target` for the log and the status page; `-` before a head was read."""
    return f"{head.method} {head.target}" if head else "-"


class ConnectionHandler:
    """Serves one accepted connection on its own thread."""

    def __init__(self, config: ServerConfig, transport: Transport, remote_addr, local_addr) -> None:
        self.config = config
        self.connection = Connection(transport, remote_addr, local_addr)
        self.request: WebSocketRequest | None = None  # set once upgraded
        self._shutting_down = False  # set once by the shutdown thread

    @property
    def transport(self) -> Transport:
        """The connection's transport as it is now: after the 101 --log-frames and
        shaping wrap it, and the connection ends through the wrappers too."""
        return self.connection.transport

    def open_requests(self) -> list[WebSocketRequest]:
        """The connection's open WebSocket session, if it has one (for the status page)."""
        request = self.request
        return [] if request is None else [request]

    # Life cycle.

    def run(self) -> None:
        try:
            self._serve()
            self.transport.finish()  # a clean end: TLS says close_notify
        except ConnectionTerminatedException as e:
            _logger.debug("%s: %s", format_address(self.connection.remote_addr), e)
        except OSError as e:
            _logger.debug("%s: connection error: %s", format_address(self.connection.remote_addr), e)
        except Exception:
            _logger.exception("unexpected error serving %s", format_address(self.connection.remote_addr))
        finally:
            # Abort first: it wakes helper threads blocked reading this connection.
            self.transport.abort()
            self.connection.run_close_callbacks()
            self.transport.close()

    def _serve(self) -> None:
        keep_alive = True
        while keep_alive and not self._shutting_down:
            head = self._read_request_head()
            if head is None:
                return
            try:
                served = self._handle(head)
            except HttpError as e:
                self._refuse(head, e.status, str(e), e.headers)
                return
            if isinstance(served, WebSocketRequest):
                # Run from here, not from deeper down: a held connection waits with
                # fewer frames on its thread's stack, each of them memory it holds;
                # and without the request head, whose fields the request has taken.
                del head
                self._run_session(served)
                return
            keep_alive = served

    def _read_request_head(self) -> RequestHead | None:
        """The next request head, or None when the client is gone or was answered."""
        config = self.config
        reader = self.connection.reader
        started = time.monotonic()
        # An opening handshake must also finish within --handshake-timeout, head included.
        deadline = started + min(config.request_timeout, config.handshake_timeout)
        try:
            # check_head_start refuses bytes that cannot begin a head without waiting.
            data = reader.read_until(HEAD_END, config.max_request_header_size, deadline,
                                     check_head_start)
            head = parse_request_head(data.lstrip(b"\r\n"))
            head.started = started
            return head
        except HttpError as e:
            self._refuse(None, e.status, str(e), e.headers)
            return None
        except ConnectionTerminatedException:
            return None  # closed between requests: nothing to answer
        except ValueError:
            self._refuse(None, HTTP_STATUS_HEADERS_TOO_LARGE,
                         f"request head exceeds {config.max_request_header_size} bytes")
            return None
        except (TimeoutError, OSError):
            if reader.buffered():
                self._refuse(None, HTTP_STATUS_REQUEST_TIMEOUT,
                             f"request head not received within "
                             f"{min(config.request_timeout, config.handshake_timeout):g} s")
            return None

    # Responses.

    def _send(self, status: int, headers: list[tuple[str, str]], body: bytes = b"") -> None:
        self.connection.write(_format_response(status, [("Server", SERVER_NAME)] + headers) + body)

    def _refuse(self, head: RequestHead | None, status: int, reason: str,
                headers: list[tuple[str, str]] | None = None) -> None:
        """Answers an error status with a one-line reason, logs it, and ends the connection."""
        self._record_refusal(head, status, reason)
        try:
            self.connection.write(refusal(status, reason, headers,
                                          with_body=head is None or head.method != "HEAD"))
        except ConnectionTerminatedException:
            return
        self._linger()

    def _record_refusal(self, head: RequestHead | None, status: int | None, reason: str) -> None:
        """Logs the refusal and keeps it for the status page, where a browser's page can
        read it."""
        note_refusal(_logger, self.config.status, self.connection.remote_addr,
                     _request_line(head), head.target if head else "", status, reason)

    def _linger(self) -> None:
        """Half-closes and drains briefly, so unread input cannot reset our last bytes."""
        self.transport.half_close()
        deadline = time.monotonic() + min(self.config.close_timeout, LINGER_TIMEOUT)
        drained = 0
        reader = self.connection.reader
        try:
            while drained < _DRAIN_LIMIT:
                drained += len(reader.read_some(_FILE_CHUNK, deadline))
        except (TimeoutError, ConnectionTerminatedException, OSError):
            return

    # Routing.

    def _resource(self, head: RequestHead) -> str:
        """The origin-form path and query, after validating an absolute-form target."""
        target = head.target
        if target.startswith("/"):
            return target
        parts = urlsplit(target)
        if parts.scheme.lower() not in ("ws", "wss", "http", "https") or not parts.netloc:
            raise HttpError(HTTP_STATUS_BAD_REQUEST, f"malformed request target {target[:80]!r}")
        config = self.config
        if config.validation_host and (parts.hostname or "").lower() != config.validation_host.lower():
            raise HttpError(HTTP_STATUS_BAD_REQUEST,
                            f"host {parts.hostname!r} in the request URI is not {config.validation_host!r}")
        if config.validation_port:
            try:
                port = parts.port
            except ValueError:
                port = None
            if port is None:
                port = 443 if parts.scheme.lower() in ("wss", "https") else 80
            if port != config.validation_port:
                raise HttpError(HTTP_STATUS_BAD_REQUEST,
                                f"port {port} in the request URI is not {config.validation_port}")
        resource = parts.path or "/"
        return resource + (f"?{parts.query}" if parts.query else "")

    def _handle(self, head: RequestHead) -> bool | WebSocketRequest:
        """Serves one request: returns whether the connection may carry another, or
        the upgraded request whose session is to run next."""
        resource = self._resource(head)
        if self.config.basic_auth is not None:
            check_authorization(head.headers, self.config.basic_auth)
        if self.config.dispatcher.get_handler_suite(resource) is not None:
            return self._accept_websocket(head, resource) or False
        if self.config.status is not None:
            path = resource.split("?", 1)[0]
            if path in (STATUS_PATH, STATUS_JSON_PATH):
                return self._serve_page(head, status_page(self.config, head.method, path))
        if wants_websocket(head.headers):
            raise missing_handler(self.config, resource)
        if self.config.cgi_paths and head.method in ("GET", "HEAD", "POST"):
            path, _, query = resource.partition("?")
            script = find_cgi_script(self.config.document_root, self.config.cgi_paths,
                                     path.split("#", 1)[0], self.config.follow_symlinks_out)
            if script is not None:
                self._serve_cgi(head, script, query)
                return False
        if head.method in ("GET", "HEAD"):
            return self._serve_page(head, static_page(self.config, resource, head.headers))
        if head.method in _KNOWN_METHODS:
            check_method(head.method)
        raise HttpError(HTTP_STATUS_NOT_IMPLEMENTED, f"method {head.method} is not implemented")

    # Pages: the status page and static files (mod_ws.server.pages).

    def _serve_page(self, head: RequestHead, page: Page) -> bool:
        """Sends `page`, keeping the connection alive when the request allows."""
        keep_alive = self._keeps_alive(head)
        try:
            self._send(page.status, page.fields + [("Connection", "keep-alive" if keep_alive else "close")])
            if head.method != "HEAD":
                for chunk in page.chunks():
                    self.connection.write(chunk)
        finally:
            page.close()
        self._log_access(head, page.status)
        return keep_alive

    # CGI programs.

    def _serve_cgi(self, head: RequestHead, script: CgiScript, query: str) -> None:
        """Runs a CGI program for the request and sends its answer (then the connection
        closes: the program's output has no framing of its own to keep it alive)."""
        config = self.config
        length = request_body_length(head.method, head.headers)
        body = b""
        if length:
            try:
                body = bytes(self.connection.reader.read_exact(
                    length, time.monotonic() + config.request_timeout))
            except TimeoutError:
                raise HttpError(HTTP_STATUS_REQUEST_TIMEOUT, f"request body of {length} bytes "
                                f"not received within {config.request_timeout:g} s") from None
        env = cgi_environment(script, head.method, query, head.headers,
                              self.connection.local_addr, self.connection.remote_addr,
                              head.version_string, self.transport.secure, length,
                              config.document_root)
        answer = run_cgi(script, env, body, config.cgi_timeout)
        self._send(answer.status, answer.headers + [("Content-Length", str(len(answer.body))),
                                                    ("Connection", "close")],
                   b"" if head.method == "HEAD" else answer.body)
        self._log_access(head, answer.status)

    @staticmethod
    def _keeps_alive(head: RequestHead) -> bool:
        # A body we did not read would be taken for the next request: close instead.
        if head.headers.get("Transfer-Encoding") or head.headers.get("Content-Length", "0") != "0":
            return False
        tokens = {t.strip().lower() for v in head.headers.get_all("Connection") for t in v.split(",")}
        if head.version >= (1, 1):
            return "close" not in tokens
        return "keep-alive" in tokens

    def _log_access(self, head: RequestHead, status: int) -> None:
        log_access(self.connection.remote_addr, head.method, head.target, head.version_string,
                   status)

    # WebSocket.

    def _run_session(self, request: WebSocketRequest) -> None:
        """The session after the 101, then the end of the byte stream."""
        self.request = request
        if self._shutting_down:  # shutdown began while we were handshaking
            session.close_going_away(request)
        session.run_session(request, self.config.dispatcher, self.config.close_timeout)
        if self.config.status is not None:
            self.config.status.session_ended(request)
        if request.close_handshake.state is FAILED:
            self._linger()  # unread input must not turn our close frame into a reset
        # Closed cleanly, the server closes TCP first (RFC 6455 section 7.1.1).

    def _accept_websocket(self, head: RequestHead, resource: str) -> WebSocketRequest | None:
        """The opening handshake: the 101 sent and the request returned, or None if the
        handler aborted it; refusals raise HttpError."""
        key, _ = self._check_upgrade(head)
        request = accept_within(self.config, self.connection, head.started, self._answer_overrun,
                                head.method, resource, head.version_string, head.headers,
                                self.transport.secure)
        if request is None:
            self._record_refusal(head, None, "the handler aborted the opening handshake "
                                 "(AbortedByUserException): nothing was answered")
            return None
        response_headers = build_response_headers(key, request.ws_protocol, request.ws_extensions,
                                                  request.extra_headers)
        if _logger.isEnabledFor(logging.DEBUG):
            peer = format_address(self.connection.remote_addr)
            _logger.debug("%s %s: request header fields: %s", peer, resource,
                          masked_headers(head.headers.items()))
            _logger.debug("%s %s: 101 with subprotocol %s, extensions %s; response header "
                          "fields: %s", peer, resource, request.ws_protocol or "none",
                          format_extensions(request.ws_extensions or []) or "none",
                          masked_headers(response_headers))
        self._send_101(request, response_headers)
        self._log_access(head, 101)
        # The handshake's temporaries are gone with its frame; a held connection keeps
        # only the request, and its header fields as one string.
        head.headers.pack()
        return request

    def _send_101(self, request: WebSocketRequest, headers: list[tuple[str, str]]) -> None:
        """The 101; late, or trickled, when the handler asked (mod_ws.server.faults)."""
        if request.handshake_response_delay:
            time.sleep(request.handshake_response_delay)
        if request.handshake_response_trickle is None:
            self._send(101, headers)
            return
        rate, chunk = request.handshake_response_trickle
        write_trickled(self.connection.write, _format_response(101, [("Server", SERVER_NAME)] + headers),
                       rate, chunk)

    @staticmethod
    def _check_upgrade(head: RequestHead) -> tuple[str, int]:
        try:
            return check_upgrade_request(head.method, head.version, head.headers)
        except HandshakeException as e:
            raise HttpError(e.status, str(e), getattr(e, "headers", [])) from None

    def _answer_overrun(self, reason: str) -> None:
        """On the watchdog thread, when the handshake overran --handshake-timeout."""
        self.transport.sendall(refusal(HTTP_STATUS_REQUEST_TIMEOUT, reason))

    def close_going_away(self) -> None:
        """Called from the shutdown thread: tells the client the server is going away."""
        self._shutting_down = True
        request = self.request
        if request is None:  # plain HTTP, idle or mid-handshake: nothing to say goodbye to
            self.transport.abort()
            return
        session.close_going_away(request)


__all__ = ["ConnectionHandler"]
