"""The plain HTTP answers every carrier gives: the status page and static files.

A carrier asks `status_page` or `static_page` for the answer to a GET or HEAD and
writes it its own way: HTTP/1.1 adds Connection and keeps the connection alive; HTTP/2
and HTTP/3 ask `stream_page` and send it on the request's stream with `send_on_stream`. A `Page` is the status, the header fields
and the body, which is bytes or a file opened for the carrier to stream and close.
"""

from __future__ import annotations

import email.utils
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, BinaryIO, Callable

from mod_ws.common import (
    HTTP_STATUS_FORBIDDEN,
    HTTP_STATUS_METHOD_NOT_ALLOWED,
    HTTP_STATUS_NOT_IMPLEMENTED,
)
from mod_ws.exceptions import HttpError
from mod_ws.protocol.opening import HeaderLookup
from mod_ws.server.cgi import find_cgi_script
from mod_ws.server.config import ServerConfig
from mod_ws.server.static_files import (
    content_type,
    directory_listing,
    not_modified_since,
    resolve_static_path,
)
from mod_ws.server.status import STATUS_JSON_PATH, STATUS_PATH

SERVER_NAME = "mod_ws"  # the Server field of every answer
ALLOWED = [("Allow", "GET, HEAD")]
FILE_CHUNK = 1 << 16


@dataclass
class Page:
    """One answer: status, fields (Content-Length included when known) and body."""

    status: int
    fields: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    file: BinaryIO | None = None  # streamed after the head, FILE_CHUNK at a time

    def chunks(self):
        """The body's pieces (the file's, read as they are sent; then closed)."""
        if self.file is None:
            if self.body:
                yield self.body
            return
        with self.file:
            while chunk := self.file.read(FILE_CHUNK):
                yield chunk

    def close(self) -> None:
        """Releases the file of an answer that is not sent (a HEAD, a lost client)."""
        if self.file is not None:
            self.file.close()


def refusal_body(status: int, reason: str) -> bytes:
    """The text body of every refusal: `STATUS Phrase: reason`, one line."""
    return f"{status} {HTTPStatus(status).phrase}: {reason}\n".encode("utf-8", "replace")


def stream_refusal(status: int, reason: str,
                   headers: list[tuple[str, str]] | None = None) -> tuple[list[tuple[str, str]], bytes]:
    """The header block (names in lower case) and the body of a refusal answered on a
    stream of HTTP/2 or HTTP/3."""
    body = refusal_body(status, reason)
    fields = [(":status", str(status)), ("server", SERVER_NAME)]
    fields += [(name.lower(), value) for name, value in headers or []]
    fields += [("content-type", "text/plain; charset=utf-8"), ("content-length", str(len(body)))]
    return fields, body


def check_method(method: str) -> None:
    """Pages answer GET and HEAD only: 405 with Allow otherwise."""
    if method not in ("GET", "HEAD"):
        raise HttpError(HTTP_STATUS_METHOD_NOT_ALLOWED, f"method {method} is not allowed", ALLOWED)


def status_page(config: ServerConfig, method: str, path: str) -> Page:
    """The status page (HTML) or its JSON twin (mod_ws.server.status)."""
    check_method(method)
    board = config.status
    if path == STATUS_JSON_PATH:
        body, kind = board.render_json(), "application/json"
    else:
        body, kind = board.render_html(), "text/html; charset=utf-8"
    return Page(200, [("Content-Type", kind), ("Content-Length", str(len(body))),
                      ("Cache-Control", "no-store")], body)


def static_page(config: ServerConfig, resource: str, headers: HeaderLookup) -> Page:
    """A file, a directory's listing or a redirect to its slashed name, from the
    document root; 304 when If-Modified-Since says the client's copy is current."""
    path = resource.split("?", 1)[0].split("#", 1)[0]
    target = resolve_static_path(config.document_root, path, config.follow_symlinks_out)
    if target.redirect is not None:
        return Page(301, [("Location", target.redirect), ("Content-Length", "0")])
    if target.is_directory:
        body = directory_listing(target.path, path)
        return Page(200, [("Content-Type", "text/html; charset=utf-8"),
                          ("Content-Length", str(len(body)))], body)
    try:
        file = target.path.open("rb")
    except OSError as e:
        raise HttpError(HTTP_STATUS_FORBIDDEN, f"cannot read {path}: {e.strerror}") from None
    try:
        stat = target.path.stat()
    except OSError as e:
        file.close()
        raise HttpError(HTTP_STATUS_FORBIDDEN, f"cannot read {path}: {e.strerror}") from None
    last_modified = ("Last-Modified", email.utils.formatdate(stat.st_mtime, usegmt=True))
    if not_modified_since((headers.get_all("If-Modified-Since") or [None])[0], stat.st_mtime):
        file.close()
        return Page(304, [last_modified, ("Cache-Control", "no-cache")])
    return Page(200, [("Content-Type", content_type(target.path)),
                      ("Content-Length", str(stat.st_size)), last_modified,
                      ("Cache-Control", "no-cache")], file=file)


def stream_page(config: ServerConfig, method: str, target: str, headers: HeaderLookup) -> Page:
    """The answer to a request on a stream of HTTP/2 or HTTP/3 that is not an extended
    CONNECT: the status page, a static file, or 405 (a WebSocket resource asked for by
    GET opens with an extended CONNECT instead)."""
    path = target.split("?", 1)[0]
    if config.status is not None and path in (STATUS_PATH, STATUS_JSON_PATH):
        return status_page(config, method, path)
    if config.dispatcher.get_handler_suite(target) is not None:
        raise HttpError(HTTP_STATUS_METHOD_NOT_ALLOWED,
                        f"{path} is a WebSocket resource: over HTTP/2 and HTTP/3 it opens with "
                        "an extended CONNECT (RFC 8441, RFC 9220)", [("Allow", "CONNECT")])
    check_method(method)
    if config.cgi_paths and find_cgi_script(config.document_root, config.cgi_paths,
                                            path.split("#", 1)[0], config.follow_symlinks_out):
        # Served as a file, the program's source would go out instead of its answer.
        raise HttpError(HTTP_STATUS_NOT_IMPLEMENTED, f"{path} is a CGI program: CGI runs over "
                        "HTTP/1.1 only")
    return static_page(config, target, headers)


def send_on_stream(send_headers: Callable[[list[tuple[str, str]]], None], transport: Any,
                   method: str, page: Page) -> None:
    """Sends `page` on a stream: the header block (`:status`, names in lower case)
    through `send_headers`, the body (none for HEAD) through the stream's transport,
    then the end of the stream."""
    fields = [(":status", str(page.status))] + [(n.lower(), v) for n, v in page.fields]
    try:
        send_headers(fields)
        if method != "HEAD":
            for chunk in page.chunks():
                transport.sendall(chunk)
        transport.finish()
    finally:
        page.close()


__all__ = ["ALLOWED", "SERVER_NAME", "Page", "check_method", "refusal_body", "send_on_stream",
           "static_page", "status_page", "stream_page", "stream_refusal"]
