"""pywebsocket3's `http_header_util`: a cursor over an HTTP header value.

Handlers and embedders (WPT's HTTP/2 and HTTP/3 handshakers) parse header values with
these: a `ParsingState` holds the text and a position (`head`), and each `consume_*`
function advances it past what it matched, returning None or False (and leaving the
position where it was) when nothing matches. The grammar is RFC 2616's, which these
names come from: a token is a run of CHARs that are not CTLs or separators; linear
white space is an optional CRLF and then spaces or tabs.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from mod_ws.common import TCHAR_CLASS

# RFC 2616's token (CHARs that are neither CTLs nor separators) is RFC 7230's tchar run.
_TOKEN = re.compile(TCHAR_CLASS + "+")
_LWS = re.compile(r"(?:\r\n)?[ \t]+")


def _is_char(c: str) -> bool:
    return ord(c) <= 127


def _is_ctl(c: str) -> bool:
    return ord(c) <= 31 or ord(c) == 127


class ParsingState:
    """The text being parsed and the position of the next character (`head`)."""

    def __init__(self, data: str) -> None:
        self.data = data
        self.head = 0


def peek(state: ParsingState, pos: int = 0) -> str | None:
    """The character `pos` places after the head, or None past the end."""
    index = state.head + pos
    return state.data[index] if index < len(state.data) else None


def consume(state: ParsingState, amount: int = 1) -> str | None:
    """The next `amount` characters, consumed; None (and nothing consumed) if fewer remain."""
    end = state.head + amount
    if end > len(state.data):
        return None
    taken = state.data[state.head:end]
    state.head = end
    return taken


def consume_string(state: ParsingState, expected: str) -> bool:
    """Consumes `expected` if the text continues with it exactly."""
    if not state.data.startswith(expected, state.head):
        return False
    state.head += len(expected)
    return True


def consume_lws(state: ParsingState) -> bool:
    """Consumes one linear white space ([CRLF] 1*(SP | HT)); False if there is none."""
    match = _LWS.match(state.data, state.head)
    if match is None:
        return False
    state.head = match.end()
    return True


def consume_lwses(state: ParsingState) -> None:
    """Consumes any amount of linear white space."""
    while consume_lws(state):
        pass


def consume_token(state: ParsingState) -> str | None:
    """The token at the head, consumed, or None if none starts there."""
    match = _TOKEN.match(state.data, state.head)
    if match is None:
        return None
    state.head = match.end()
    return match.group()


def consume_token_or_quoted_string(state: ParsingState) -> str | None:
    """A token, or the unquoted text of a quoted-string (each inner LWS read as one
    space, a backslash taking the next CHAR as it is); None if neither is there or
    the quoted-string is malformed."""
    start = state.head
    if not consume_string(state, '"'):
        return consume_token(state)
    text: list[str] = []
    while True:
        if consume_lws(state):
            text.append(" ")
            continue
        c = consume(state)
        if c == '"':
            return "".join(text)
        if c == "\\":
            c = consume(state)
            if c is None or not _is_char(c):
                break
        elif c is None or _is_ctl(c):
            break
        text.append(c)
    state.head = start
    return None


def quote_if_necessary(s: str) -> str:
    """`s` as it may stand in a header: as it is if it is a token, else quoted, with
    quotes and control characters escaped."""
    if s and _TOKEN.fullmatch(s):
        return s
    escaped = "".join("\\" + c if c == '"' or _is_ctl(c) else c for c in s)
    return f'"{escaped}"'


def parse_uri(uri: str) -> tuple[str | None, int | None, str | None]:
    """(host, port, resource) of a ws:// or wss:// URI, the port defaulting to 80 or
    443; (None, None, uri) for a relative URI; (None, None, None) for a bad one."""
    parts = urlsplit(uri)
    if parts.scheme not in ("ws", "wss"):
        return None, None, uri
    if parts.hostname is None:
        return None, None, None
    try:
        port = parts.port
    except ValueError:  # a port that is not a number, or out of range
        return None, None, None
    if port is None:
        port = 443 if parts.scheme == "wss" else 80
    resource = parts.path or "/"
    if parts.query:
        resource += "?" + parts.query
    if parts.fragment:
        resource += "#" + parts.fragment
    return parts.hostname, port, resource


__all__ = [
    "ParsingState",
    "consume",
    "consume_lws",
    "consume_lwses",
    "consume_string",
    "consume_token",
    "consume_token_or_quoted_string",
    "parse_uri",
    "peek",
    "quote_if_necessary",
]
