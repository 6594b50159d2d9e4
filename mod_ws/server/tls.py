"""TLS for wss:// and https://: the server's TLS context and the TLS `Transport`.

`make_tls_factory` checks the key, the certificate and the client CA once at start-up
(each fault is one `TlsSetupError` line naming the file) and returns the
`TransportFactory` the server hands every accepted socket to. The TLS handshake then
runs on that connection's own thread, bounded by a deadline, so a silent or slow
client holds up no other.

`TlsTransport` runs over a non-blocking socket and one TLS engine: pyOpenSSL (the
default, `--tls-module pyopenssl`) or the standard library's `ssl` (`--tls-module
ssl`). Neither may be read and written from two threads at once, yet a handler's
`MessageReceiver` / `MessageSender` threads do exactly that; so every call into the
engine runs under one lock, and every wait (for the socket to become readable or
writable) runs outside it: a reader waiting for data never stops a writer.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from datetime import timezone
from pathlib import Path
from typing import Any, Callable

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import Encoding
from OpenSSL import SSL

from mod_ws.defaults import TLS_MODULE, TLS_MODULES
from mod_ws.server.transport import (
    READABLE,
    WRITABLE,
    SocketEnds,
    Transport,
    TransportFactory,
    wait_for,
)

_logger = logging.getLogger(__name__)

# ALPN: HTTP/1.1, and h2 first when --http2 asks for it (TlsConfig.alpn).
ALPN_HTTP1 = (b"http/1.1",)
ALPN_WITH_HTTP2 = (b"h2", b"http/1.1")
# TLS 1.2 suites with forward secrecy and AEAD (TLS 1.3 keeps OpenSSL's defaults).
_TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:!aNULL:!eNULL:!MD5:!DSS"
# How many bytes of a new connection are looked at to tell TLS from plain HTTP.
_PEEK_SIZE = 8
# After refusing a plain-HTTP client: how long and how much of its request to drain.
_DRAIN_SECONDS = 1.0
_DRAIN_LIMIT = 1 << 16


class TlsSetupError(Exception):
    """The TLS options cannot make a working server: one line naming the file and the fault."""


class TlsHandshakeError(OSError):
    """A client's TLS handshake failed (wrong protocol, no or a bad certificate, ...)."""


@dataclass(frozen=True)
class TlsConfig:
    """What the TLS options ask for (-t, -k, -c, --tls-client-*, --tls-module)."""

    certificate: str
    private_key: str
    client_auth: bool = False
    client_ca: str | None = None
    client_cert_optional: bool = False
    module: str = TLS_MODULE
    alpn: tuple[bytes, ...] = ALPN_HTTP1  # in the server's order of preference


class _Refused(OSError):
    """A connection refused before its TLS handshake, and already logged."""


class _WantRead(Exception):
    """The engine needs the socket to be readable before it can go on."""


class _WantWrite(Exception):
    """The engine needs the socket to be writable before it can go on."""


# --- certificates ---------------------------------------------------------------------


def describe_certificate(der: bytes | None) -> dict | None:
    """A peer certificate as handlers see it (`request.get_peer_cert()`): subject,
    issuer, serial, validity and subject alternative names; None without one."""
    if der is None:
        return None
    cert = x509.load_der_x509_certificate(der)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [str(getattr(name, "value", name)) for name in san]
    except x509.ExtensionNotFound:
        names = []
    not_before = getattr(cert, "not_valid_before_utc", None) or cert.not_valid_before.replace(tzinfo=timezone.utc)
    not_after = getattr(cert, "not_valid_after_utc", None) or cert.not_valid_after.replace(tzinfo=timezone.utc)
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "serial": cert.serial_number,
        "not_before": not_before.isoformat(),
        "not_after": not_after.isoformat(),
        "subject_alt_names": names,
    }


def _check_file(option: str, path: str | None) -> str:
    if not path:
        raise TlsSetupError(f"{option} is required with --tls")
    file = Path(path)
    if not file.is_file():
        raise TlsSetupError(f"{option} {path!r}: no such file")
    try:
        with file.open("rb"):
            pass
    except OSError as e:
        raise TlsSetupError(f"{option} {path!r}: cannot read it: {e.strerror}") from None
    return path


def _check_pem_pair(config: TlsConfig) -> None:
    """The certificate and the key parse as PEM and belong together: checked here, with
    one message for both TLS modules, before either library sees the files."""
    try:
        certificates = x509.load_pem_x509_certificates(Path(config.certificate).read_bytes())
    except ValueError as e:
        raise TlsSetupError(f"--certificate {config.certificate!r} is not a PEM certificate: {e}") from None
    try:
        key = serialization.load_pem_private_key(Path(config.private_key).read_bytes(), password=None)
    except (ValueError, TypeError) as e:
        raise TlsSetupError(f"--private-key {config.private_key!r} is not an unencrypted PEM "
                            f"private key: {e}") from None
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    if (certificates[0].public_key().public_bytes(Encoding.DER, public)
            != key.public_key().public_bytes(Encoding.DER, public)):
        raise TlsSetupError(f"--private-key {config.private_key!r} does not match "
                            f"--certificate {config.certificate!r}")
    if config.client_auth:
        try:
            x509.load_pem_x509_certificates(Path(config.client_ca).read_bytes())
        except ValueError as e:
            raise TlsSetupError(f"--tls-client-ca {config.client_ca!r} is not a PEM CA file: {e}") from None


def _openssl_reason(error: Exception) -> str:
    """The innermost reason of a pyOpenSSL or ssl error, as one short phrase."""
    args = getattr(error, "args", ())
    if args and isinstance(args[0], list) and args[0]:
        entry = args[0][-1]
        if isinstance(entry, tuple) and len(entry) == 3:
            return str(entry[2])
    return str(error) or type(error).__name__


# --- the two engines ------------------------------------------------------------------


def _pyopenssl_context(config: TlsConfig) -> SSL.Context:
    context = SSL.Context(SSL.TLS_SERVER_METHOD)
    context.set_min_proto_version(SSL.TLS1_2_VERSION)
    # No renegotiation: a write must never have to read, or a reader waiting on the
    # socket could miss bytes the writer took in (see TlsTransport).
    context.set_options(SSL.OP_NO_COMPRESSION | SSL.OP_CIPHER_SERVER_PREFERENCE
                        | getattr(SSL, "OP_NO_RENEGOTIATION", 0))
    context.set_cipher_list(_TLS12_CIPHERS.encode("ascii"))
    try:
        context.use_certificate_chain_file(config.certificate)
    except SSL.Error as e:
        raise TlsSetupError(f"--certificate {config.certificate!r} is not a usable PEM "
                            f"certificate: {_openssl_reason(e)}") from None
    try:
        context.use_privatekey_file(config.private_key)
    except SSL.Error as e:
        raise TlsSetupError(f"--private-key {config.private_key!r} is not a usable PEM "
                            f"private key: {_openssl_reason(e)}") from None
    try:
        context.check_privatekey()
    except SSL.Error:
        raise TlsSetupError(f"--private-key {config.private_key!r} does not match "
                            f"--certificate {config.certificate!r}") from None
    if config.client_auth:
        try:
            context.load_verify_locations(config.client_ca.encode())
            context.load_client_ca(config.client_ca.encode())
        except SSL.Error as e:
            raise TlsSetupError(f"--tls-client-ca {config.client_ca!r} is not a usable PEM "
                                f"CA file: {_openssl_reason(e)}") from None
        mode = SSL.VERIFY_PEER | (0 if config.client_cert_optional else SSL.VERIFY_FAIL_IF_NO_PEER_CERT)
        context.set_verify(mode, lambda connection, cert, errno, depth, ok: bool(ok))
        context.set_session_id(b"mod_ws")  # resumed sessions keep their verified peer

    def select_alpn(connection: SSL.Connection, offered: list[bytes]) -> Any:
        return next((p for p in config.alpn if p in offered), SSL.NO_OVERLAPPING_PROTOCOLS)

    context.set_alpn_select_callback(select_alpn)
    return context


class _PyOpenSSLEngine:
    """A pyOpenSSL server connection, its errors turned into _WantRead / _WantWrite,
    b"" at a clean end and TlsHandshakeError / OSError otherwise."""

    def __init__(self, context: SSL.Context, sock: socket.socket) -> None:
        self.socket = sock  # what the transport waits on
        self._connection = SSL.Connection(context, sock)
        self._connection.set_accept_state()

    def _call(self, method: Callable, *args: Any) -> Any:
        try:
            return method(*args)
        except SSL.WantReadError:
            raise _WantRead from None
        except SSL.WantWriteError:
            raise _WantWrite from None
        except SSL.ZeroReturnError:
            return b""
        except SSL.SysCallError as e:
            if e.args and e.args[0] in (-1, 0):  # the peer closed without close_notify
                return b""
            raise OSError(e.args[0], str(e.args[1]) if len(e.args) > 1 else "TLS I/O error") from None
        except SSL.Error as e:
            raise TlsHandshakeError(_openssl_reason(e)) from None

    def handshake(self) -> None:
        if self._call(self._connection.do_handshake) == b"":
            raise TlsHandshakeError("the client closed the connection during the TLS handshake")

    def recv(self, size: int) -> bytes:
        return self._call(self._connection.recv, size)

    def send(self, data: bytes) -> int:
        return self._call(self._connection.send, data)

    def close_notify(self) -> None:
        self._call(self._connection.shutdown)

    def alpn_protocol(self) -> str | None:
        chosen = self._connection.get_alpn_proto_negotiated()
        return chosen.decode("ascii", "replace") if chosen else None

    def peer_certificate(self) -> bytes | None:
        cert = self._connection.get_peer_certificate()
        if cert is None:
            return None
        return cert.to_cryptography().public_bytes(Encoding.DER)


def _stdlib_context(config: TlsConfig) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.options |= (ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
                        | getattr(ssl, "OP_NO_RENEGOTIATION", 0))
    context.set_ciphers(_TLS12_CIPHERS)
    try:
        context.load_cert_chain(config.certificate, config.private_key)
    except ssl.SSLError as e:
        reason = e.reason or str(e)
        if "KEY_VALUES_MISMATCH" in str(e) or "key values mismatch" in str(e).lower():
            raise TlsSetupError(f"--private-key {config.private_key!r} does not match "
                                f"--certificate {config.certificate!r}") from None
        raise TlsSetupError(f"--certificate {config.certificate!r} or --private-key "
                            f"{config.private_key!r} is not usable PEM: {reason}") from None
    if config.client_auth:
        try:
            context.load_verify_locations(cafile=config.client_ca)
        except ssl.SSLError as e:
            raise TlsSetupError(f"--tls-client-ca {config.client_ca!r} is not a usable PEM "
                                f"CA file: {e.reason or e}") from None
        context.verify_mode = ssl.CERT_OPTIONAL if config.client_cert_optional else ssl.CERT_REQUIRED
    context.set_alpn_protocols([p.decode("ascii") for p in config.alpn])
    return context


class _StdlibEngine:
    """A standard-library SSLSocket in non-blocking mode, with _PyOpenSSLEngine's contract."""

    def __init__(self, context: ssl.SSLContext, sock: socket.socket) -> None:
        # wrap_socket takes over the descriptor: `sock` is detached from here on.
        self._socket = self.socket = context.wrap_socket(sock, server_side=True,
                                                         do_handshake_on_connect=False)

    def _call(self, method: Callable, *args: Any) -> Any:
        try:
            return method(*args)
        except ssl.SSLWantReadError:
            raise _WantRead from None
        except ssl.SSLWantWriteError:
            raise _WantWrite from None
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            return b""
        except ssl.SSLError as e:
            raise TlsHandshakeError(e.reason or str(e)) from None

    def handshake(self) -> None:
        if self._call(self._socket.do_handshake) == b"":
            raise TlsHandshakeError("the client closed the connection during the TLS handshake")

    def recv(self, size: int) -> bytes:
        return self._call(self._socket.recv, size)

    def send(self, data: bytes) -> int:
        return self._call(self._socket.send, data)

    def close_notify(self) -> None:
        self._call(self._socket.unwrap)

    def alpn_protocol(self) -> str | None:
        return self._socket.selected_alpn_protocol()

    def peer_certificate(self) -> bytes | None:
        return self._socket.getpeercert(binary_form=True)


# --- the transport --------------------------------------------------------------------


class TlsTransport(SocketEnds):
    """A Transport over one TLS connection (see the module docstring for the locking)."""

    secure = True
    alpn_protocol: str | None = None  # what ALPN chose ("h2", "http/1.1"), once handshaken

    def __init__(self, engine: Any, send_timeout: float) -> None:
        self.socket = engine.socket
        self._engine = engine
        self._lock = threading.Lock()  # held for engine calls only, never across a wait
        self._send_timeout = send_timeout

    def _run(self, call: Callable, *args: Any, deadline: float | None = None) -> Any:
        """Runs one engine call to completion, waiting as it asks."""
        while True:
            with self._lock:
                try:
                    return call(*args)
                except _WantRead:
                    events = READABLE
                except _WantWrite:
                    events = WRITABLE
            wait_for(self.socket, events, deadline)

    def handshake(self, deadline: float) -> None:
        self._run(self._engine.handshake, deadline=deadline)
        self.alpn_protocol = self._engine.alpn_protocol()

    def recv(self, size: int) -> bytes:
        return self._run(self._engine.recv, size)

    def recv_within(self, size: int, deadline: float) -> bytes:
        return self._run(self._engine.recv, size, deadline=deadline)

    def recv_ready(self, size: int) -> bytes | None:
        with self._lock:
            try:
                return self._engine.recv(size)  # decrypted bytes already held count too
            except (_WantRead, _WantWrite):
                return None

    def recv_into(self, buffer: memoryview) -> int:
        data = self.recv(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def sendall(self, data: bytes) -> None:
        deadline = time.monotonic() + self._send_timeout
        view = memoryview(data)
        try:
            while view:
                sent = self._run(self._engine.send, view, deadline=deadline)
                view = view[sent:]
        except TimeoutError:
            raise TimeoutError(f"send timed out after {self._send_timeout:g} s") from None
        finally:
            view.release()

    def finish(self) -> None:
        """Sends close_notify (best effort, without waiting for the peer's)."""
        with self._lock:
            try:
                self._engine.close_notify()
            except (_WantRead, _WantWrite, OSError, ValueError):
                pass

    def half_close(self) -> None:
        """Sends close_notify, then ends our direction."""
        self.finish()
        super().half_close()

    def peer_certificate(self) -> dict | None:
        """The client's verified certificate, described (see describe_certificate)."""
        with self._lock:
            der = self._engine.peer_certificate()
        return describe_certificate(der)


_PLAIN_HTTP_BODY = b"400 Bad Request: this port speaks TLS: connect with wss:// or https://\n"
_PLAIN_HTTP_ANSWER = (
    b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(_PLAIN_HTTP_BODY)
) + _PLAIN_HTTP_BODY


def _looks_like_plain_http(first: bytes) -> bool:
    """A request method's first letter where a TLS record (0x16, ...) should start."""
    return first[:1].isalpha()


def make_tls_factory(config: TlsConfig, handshake_timeout: float,
                     send_timeout: float) -> TransportFactory:
    """Checks the TLS files and returns the factory that makes each connection's
    TlsTransport, its handshake done within `handshake_timeout` seconds.

    Raises TlsSetupError naming the file and the fault.
    """
    _check_file("--certificate", config.certificate)
    _check_file("--private-key", config.private_key)
    if config.client_auth:
        _check_file("--tls-client-ca", config.client_ca)
    _check_pem_pair(config)
    if config.module == "ssl":
        context: Any = _stdlib_context(config)
        engine_class: Any = _StdlibEngine
    elif config.module == "pyopenssl":
        context = _pyopenssl_context(config)
        engine_class = _PyOpenSSLEngine
    else:
        raise TlsSetupError(f"--tls-module {config.module!r}: choose from {', '.join(TLS_MODULES)}")

    def make_transport(sock: socket.socket) -> Transport:
        peer = _peer_name(sock)
        deadline = time.monotonic() + handshake_timeout
        sock.setblocking(False)
        try:
            wait_for(sock, READABLE, deadline)
            first = sock.recv(_PEEK_SIZE, socket.MSG_PEEK)
            if not first:  # connected and closed without a byte (a port probe, say)
                _logger.debug("%s: closed before the TLS handshake began", peer)
                raise _Refused("closed before the TLS handshake began")
            if _looks_like_plain_http(first):
                _logger.warning("%s: plain HTTP on the TLS port (%r...): answered 400", peer, first)
                _answer_and_drain(sock, _PLAIN_HTTP_ANSWER)
                raise _Refused("plain HTTP on the TLS port")
            transport = TlsTransport(engine_class(context, sock), send_timeout)
            transport.handshake(deadline)
        except _Refused:
            raise
        except TimeoutError:
            _logger.warning("%s: TLS handshake not completed within %g s", peer, handshake_timeout)
            raise
        except TlsHandshakeError as e:
            _logger.warning("%s: TLS handshake failed: %s", peer, e)
            raise
        except OSError as e:
            _logger.info("%s: connection lost during the TLS handshake: %s", peer, e)
            raise
        return transport

    return make_transport


def _answer_and_drain(sock: socket.socket, answer: bytes) -> None:
    """Sends `answer`, half-closes, and reads what the client sent for a moment, so its
    unread request cannot turn our answer into a reset."""
    deadline = time.monotonic() + _DRAIN_SECONDS
    try:
        sock.send(answer)
        sock.shutdown(socket.SHUT_WR)
        drained = 0
        while drained < _DRAIN_LIMIT:
            wait_for(sock, READABLE, deadline)
            data = sock.recv(65536)
            if not data:
                return
            drained += len(data)
    except (OSError, TimeoutError):
        return


def _peer_name(sock: socket.socket) -> str:
    try:
        host, port = sock.getpeername()[:2]
    except OSError:
        return "?"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


__all__ = [
    "TLS_MODULES",
    "TlsConfig",
    "TlsHandshakeError",
    "TlsSetupError",
    "TlsTransport",
    "describe_certificate",
    "make_tls_factory",
]
