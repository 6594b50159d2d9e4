"""A TLS-terminating TCP relay for tests: plain TCP in, TLS out.

    shim = TLSShim("127.0.0.1", server_port, cafile="cert/ca.pem")
    port = shim.start()      # listens on 127.0.0.1:port, a port the OS picks
    ...                      # ws://127.0.0.1:port/ now reaches the wss:// server
    shim.stop()

Every accepted connection gets its own TLS connection to the target (the standard
library's ssl, verifying the certificate against `cafile` for `server_hostname`) and one
thread that copies bytes both ways. The TLS state lives in an `ssl.SSLObject` over
memory BIOs, driven by that single thread, so no SSL object is ever used from two
threads, and neither direction blocks the other.

End of stream is passed on as a half-close: EOF from the client becomes close_notify
plus a TCP FIN to the server; EOF from the server (close_notify or a bare TCP FIN)
becomes a FIN to the client. A connection reset counts as EOF in both directions. Both
sockets are closed once both directions are done. Timeouts bound every phase: connecting
and the TLS handshake (CONNECT_TIMEOUT), silence on a connection (IDLE_TIMEOUT) and the
wait for the second direction once the first has ended (DRAIN_TIMEOUT).

stop() closes the listening socket and every connection and joins the threads. It also
runs at interpreter exit, and all threads are daemons, so the shim never keeps a script
alive.
"""

from __future__ import annotations

import atexit
import select
import socket
import ssl
import sys
import threading
import time

CONNECT_TIMEOUT = 10.0  # TCP connect plus TLS handshake to the target
IDLE_TIMEOUT = 120.0  # no byte either way for this long: drop the connection
DRAIN_TIMEOUT = 30.0  # one direction ended: the other must end within this
POLL = 0.25  # how often the threads look at the stop flag
CHUNK = 65536
HIGH_WATER = 1 << 20  # stop reading a side while this much waits for the other


class TLSShim:
    def __init__(self, target_host: str, target_port: int, cafile: str, *,
                 server_hostname: str = "localhost", listen_host: str = "127.0.0.1",
                 log=sys.stderr) -> None:
        self.target = (target_host, target_port)
        self.server_hostname = server_hostname
        self.listen_host = listen_host
        self.context = ssl.create_default_context(cafile=str(cafile))
        self.log = log
        self.port: int | None = None
        self.connections = 0  # accepted so far
        self.errors = 0  # connect, handshake and TLS errors (each also logged)
        self.ragged_eofs = 0  # server connections that ended in a FIN without close_notify
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._listener: socket.socket | None = None
        self._acceptor: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> int:
        """Starts listening and accepting; returns the port."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((self.listen_host, 0))
            listener.listen(64)
        except BaseException:
            listener.close()
            raise
        self._listener = listener
        self.port = listener.getsockname()[1]
        self._acceptor = threading.Thread(target=self._accept_loop, name="tls-shim-accept",
                                          daemon=True)
        self._acceptor.start()
        atexit.register(self.stop)
        return self.port

    def stop(self) -> None:
        """Stops accepting, ends every connection, joins the threads. Idempotent."""
        self._stopping.set()
        atexit.unregister(self.stop)
        if self._acceptor is not None:
            self._acceptor.join(5)
        if self._listener is not None:
            self._listener.close()
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(5)
        with self._lock:
            leftovers = list(self._sockets)
            self._sockets.clear()
        for sock in leftovers:  # only if a thread did not finish in time
            sock.close()

    def __enter__(self) -> TLSShim:  # noqa: PYI034 (typing.Self needs Python 3.11)
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- internals ---------------------------------------------------------------

    def _error(self, message: str) -> None:
        with self._lock:
            self.errors += 1
        print(f"tls_shim: {message}", file=self.log, flush=True)

    def _ragged_eof(self) -> None:
        with self._lock:
            self.ragged_eofs += 1

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)

    def _close(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)
        sock.close()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                ready, _, _ = select.select([self._listener], [], [], POLL)
                if not ready:
                    continue
                client, _ = self._listener.accept()
            except OSError:
                if self._stopping.is_set():
                    return
                time.sleep(POLL)  # e.g. out of descriptors: do not spin
                continue
            self._track(client)
            thread = threading.Thread(target=self._serve, args=(client,),
                                      name="tls-shim-conn", daemon=True)
            with self._lock:
                self.connections += 1
                self._threads = [t for t in self._threads if t.is_alive()]
                self._threads.append(thread)
            thread.start()

    def _serve(self, client: socket.socket) -> None:
        server = None
        try:
            try:
                server = socket.create_connection(self.target, timeout=CONNECT_TIMEOUT)
            except OSError as exc:
                self._error(f"cannot connect to {self.target[0]}:{self.target[1]}: {exc}")
                return
            self._track(server)
            for sock in (client, server):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
            tls = self.context.wrap_bio(incoming, outgoing, server_side=False,
                                        server_hostname=self.server_hostname)
            try:
                self._handshake(server, tls, incoming, outgoing)
            except (OSError, ConnectionError) as exc:  # ssl.SSLError is an OSError
                self._error(f"TLS handshake with {self.target[0]}:{self.target[1]} failed: "
                            f"{exc!r}")
                return
            client.setblocking(False)
            server.setblocking(False)
            relay = _Relay(self, client, server, tls, incoming, outgoing)
            relay.decrypt()  # what came in with the end of the handshake
            relay.run()
        except Exception as exc:  # noqa: BLE001 (a thread must not die with a traceback)
            self._error(f"relay failed: {exc!r}")
        finally:
            self._close(client)
            if server is not None:
                self._close(server)

    def _handshake(self, server: socket.socket, tls: ssl.SSLObject,
                   incoming: ssl.MemoryBIO, outgoing: ssl.MemoryBIO) -> None:
        deadline = time.monotonic() + CONNECT_TIMEOUT
        while True:
            try:
                tls.do_handshake()
                done = True
            except ssl.SSLWantReadError:
                done = False
            data = outgoing.read()
            if data:
                server.sendall(data)
            if done:
                return
            left = deadline - time.monotonic()
            if left <= 0 or self._stopping.is_set():
                raise TimeoutError("TLS handshake timed out")
            server.settimeout(min(left, POLL))
            try:
                data = server.recv(CHUNK)
            except socket.timeout:
                continue
            if not data:
                raise ConnectionError("the server closed the connection during the handshake")
            incoming.write(data)


class _Relay:
    """The copy loop of one connection (runs on that connection's thread)."""

    def __init__(self, shim: TLSShim, client: socket.socket, server: socket.socket,
                 tls: ssl.SSLObject, incoming: ssl.MemoryBIO, outgoing: ssl.MemoryBIO) -> None:
        self.shim = shim
        self.client, self.server = client, server
        self.tls, self.incoming, self.outgoing = tls, incoming, outgoing
        self.to_client = bytearray()  # plaintext from the server, not yet sent to the client
        self.to_server = bytearray()  # TLS records, not yet sent to the server
        self.client_eof = False  # nothing more will be read from the client
        self.server_eof = False  # nothing more will be read from the server
        self.client_shut = False  # writing to the client is shut down (or dead)
        self.server_shut = False  # writing to the server is shut down (or dead)
        self.close_notify_sent = False  # (or no longer possible)

    def run(self) -> None:
        stopping = self.shim._stopping
        last_activity = time.monotonic()
        drain_deadline = None
        while not stopping.is_set():
            self._propagate_eof()
            if self.client_eof and self.server_shut and self.server_eof and self.client_shut:
                return  # both directions done
            now = time.monotonic()
            if drain_deadline is None and ((self.client_eof and self.server_shut)
                                           or (self.server_eof and self.client_shut)):
                drain_deadline = now + DRAIN_TIMEOUT
            if drain_deadline is not None and now > drain_deadline:
                return
            if now - last_activity > IDLE_TIMEOUT:
                return
            readers, writers = [], []
            if not self.client_eof and len(self.to_server) < HIGH_WATER:
                readers.append(self.client)
            if not self.server_eof and len(self.to_client) < HIGH_WATER:
                readers.append(self.server)
            if self.to_client and not self.client_shut:
                writers.append(self.client)
            if self.to_server and not self.server_shut:
                writers.append(self.server)
            readable, writable, _ = select.select(readers, writers, [], POLL)
            if readable or writable:
                last_activity = time.monotonic()
            if self.client in readable:
                self._read_client()
            if self.server in readable:
                self._read_server()
            if self.client in writable:
                self._write_client()
            if self.server in writable:
                self._write_server()

    # EOF from one side becomes a shut-down of writing on the other, once everything that
    # came before it has been passed on.
    def _propagate_eof(self) -> None:
        if self.client_eof and not self.close_notify_sent:
            self.close_notify_sent = True
            try:
                self.tls.unwrap()  # queues close_notify; then wants the server's
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLError as exc:
                self.shim._error(f"sending close_notify: {exc!r}")
            self._take_records()
        if self.client_eof and not self.server_shut and not self.to_server:
            self._shutdown(self.server)
            self.server_shut = True
        if self.server_eof and not self.client_shut and not self.to_client:
            self._shutdown(self.client)
            self.client_shut = True

    @staticmethod
    def _shutdown(sock: socket.socket) -> None:
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def _take_records(self) -> None:
        data = self.outgoing.read()
        if data:
            self.to_server += data

    def _read_client(self) -> None:
        try:
            data = self.client.recv(CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # reset: the client can neither send nor receive any more
            data = b""
            self._client_dead()
        if not data:
            self.client_eof = True
            return
        if self.server_shut:
            return  # the server can take no more: drop it
        try:
            view = memoryview(data)
            while view:
                view = view[self.tls.write(view):]
        except ssl.SSLError as exc:
            self.shim._error(f"encrypting for the server: {exc!r}")
            self._server_dead()
            return
        self._take_records()

    def _read_server(self) -> None:
        try:
            data = self.server.recv(CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
            self._server_dead()
        if not data:
            # A FIN without close_notify before it. Ends this direction like close_notify
            # would; the BIO gets no EOF, which would fail the SSL object, so that the
            # client's remaining bytes can still be encrypted (half-close).
            if not self.server_shut:
                self.shim._ragged_eof()
            self.server_eof = True
            return
        self.incoming.write(data)
        self.decrypt()

    def decrypt(self) -> None:
        """Decrypts all that the server sent so far, so that nothing waits inside the SSL
        object unseen by select() (and unwrap() never meets unread records); then queues
        whatever reading produced (answers to post-handshake messages)."""
        while True:
            try:
                chunk = self.tls.read(CHUNK)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:  # close_notify
                self.server_eof = True
                break
            except ssl.SSLError as exc:  # the SSL object is failed now
                self.shim._error(f"reading from the server: {exc!r}")
                self._server_dead()
                break
            if not chunk:
                self.server_eof = True
                break
            self.to_client += chunk
        if not self.server_shut:
            self._take_records()

    def _write_client(self) -> None:
        try:
            sent = self.client.send(self.to_client)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._client_dead()
            return
        del self.to_client[:sent]

    def _write_server(self) -> None:
        try:
            sent = self.server.send(self.to_server)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._server_dead()
            return
        del self.to_server[:sent]

    def _client_dead(self) -> None:
        self.to_client.clear()
        self.client_eof = self.client_shut = True

    def _server_dead(self) -> None:
        self.to_server.clear()
        self.server_eof = self.server_shut = True
        self.close_notify_sent = True
