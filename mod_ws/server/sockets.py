"""Sockets bound on every address the options name, TCP for the listener and UDP for
HTTP/3, and the one-line error when one cannot be.

`open_listeners` resolves the host ('' is every IPv4 and IPv6 address, one dual-stack
socket where the system has IPv6) and binds all of them on one port, the first one's
when the port is 0. `plain_address` is a peer's address as the log and handlers show it.
"""

from __future__ import annotations

import socket
import sys

from mod_ws.defaults import BACKLOG


class ServerStartError(Exception):
    """The server cannot listen where it was asked to."""


def _bind(family: int, address: tuple, kind: int, backlog: int,
          dual_stack: bool = False) -> socket.socket:
    sock = socket.socket(family, kind)
    try:
        if kind == socket.SOCK_STREAM:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0 if dual_stack else 1)
        sock.bind(address)
        if kind == socket.SOCK_STREAM:
            sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return sock


def open_listeners(host: str, port: int, backlog: int = BACKLOG,
                   kind: int = socket.SOCK_STREAM) -> list[socket.socket]:
    """Listening sockets for `host` ('' means every IPv4 and IPv6 interface), all on
    one port: TCP, or UDP (`kind` SOCK_DGRAM, bound only) for HTTP/3."""
    what = "UDP port" if kind == socket.SOCK_DGRAM else "port"
    if not host:
        if socket.has_ipv6:
            try:
                return [_bind(socket.AF_INET6, ("::", port), kind, backlog, dual_stack=True)]
            except OSError as e:
                if e.errno not in (97, 99):  # EAFNOSUPPORT, EADDRNOTAVAIL: no IPv6 here
                    raise ServerStartError(f"cannot listen on {what} {port}: {e.strerror}") from None
        try:
            return [_bind(socket.AF_INET, ("0.0.0.0", port), kind, backlog)]
        except OSError as e:
            raise ServerStartError(f"cannot listen on {what} {port}: {e.strerror}") from None
    try:
        infos = socket.getaddrinfo(host, port, socket.AF_UNSPEC, kind, 0, socket.AI_PASSIVE)
    except socket.gaierror as e:
        raise ServerStartError(f"cannot resolve --server-host {host!r}: {e.strerror}") from None
    listeners: list[socket.socket] = []
    seen = set()
    for family, _, _, _, address in infos:
        if address in seen:
            continue
        seen.add(address)
        if port == 0 and listeners:  # every address shares the first one's port
            address = (address[0], listeners[0].getsockname()[1]) + tuple(address[2:])
        try:
            listeners.append(_bind(family, address, kind, backlog))
        except OSError as e:
            for sock in listeners:
                sock.close()
            raise ServerStartError(
                f"cannot listen on {host} {what} {port} ({address[0]}): {e.strerror}"
            ) from None
    return listeners


def plain_address(address: tuple) -> tuple[str, int]:
    """(host, port), with an IPv4-mapped IPv6 host (dual-stack socket) shown as IPv4."""
    host = address[0]
    if host.startswith("::ffff:") and "." in host:
        host = host[len("::ffff:"):]
    # Interned: connections from one client share one string instead of one each.
    return sys.intern(host), address[1]


__all__ = ["ServerStartError", "open_listeners", "plain_address"]
