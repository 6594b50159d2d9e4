"""The floor for bench/bench.py: a plain TCP echo with no WebSocket in the way.

    python bench/raw_echo_server.py --port 0

A thread per connection, like mod_ws. Each message is a 4-byte big-endian length and
that many payload bytes; the server reads one whole message through a buffered reader
and writes it back with the same prefix, one message at a time (as a message-oriented
server does), so the figures measure what moving the same bytes costs in Python.
Listens on 127.0.0.1 only and prints `raw_echo_server: listening on 127.0.0.1:PORT`
on stderr once ready. Stops on SIGTERM or SIGINT.
"""

import argparse
import signal
import socket
import ssl
import struct
import sys
import threading

CHUNK = 65536
_LENGTH = struct.Struct("!I")


def serve_connection(sock):
    unpack = _LENGTH.unpack_from
    recv = sock.recv
    sendall = sock.sendall
    buffer = b""
    pos = 0
    try:
        while True:
            while len(buffer) - pos < 4:
                data = recv(CHUNK)
                if not data:
                    return
                buffer = buffer[pos:] + data
                pos = 0
            (length,) = unpack(buffer, pos)
            end = pos + 4 + length
            if end <= len(buffer):
                sendall(buffer[pos:end])
                pos = end
                continue
            if length <= CHUNK:
                while len(buffer) < end:
                    data = recv(CHUNK)
                    if not data:
                        return
                    buffer += data
                sendall(buffer[pos:end])
                pos = end
                continue
            # A large message: receive the rest straight into its own buffer.
            message = bytearray(4 + length)
            have = len(buffer) - pos
            message[:have] = buffer[pos:]
            view = memoryview(message)
            while have < len(message):
                n = sock.recv_into(view[have:])
                if n == 0:
                    return
                have += n
            view.release()
            sendall(message)
            buffer = b""
            pos = 0
    except OSError:
        pass
    finally:
        sock.close()


def serve_tls_connection(sock, context):
    """serve_connection over TLS; the handshake on this connection's thread."""
    try:
        sock = context.wrap_socket(sock, server_side=True)
    except (OSError, ssl.SSLError):
        sock.close()
        return
    serve_connection(sock)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"),
                        help="the same echo over TLS (the standard library's ssl, a TLS handshake "
                        "on each connection's own thread)")
    args = parser.parse_args()
    context = None
    if args.tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*args.tls)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", args.port))
    listener.listen(1024)  # connects in the idle scenario never wait on a full queue
    stopping = threading.Event()

    def stop(signum, frame):
        stopping.set()
        listener.close()  # wakes accept() below

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    host, port = listener.getsockname()
    print(f"raw_echo_server: listening on {host}:{port}", file=sys.stderr, flush=True)
    listener.settimeout(0.5)
    while not stopping.is_set():
        try:
            sock, _ = listener.accept()
        except socket.timeout:
            continue
        except OSError:
            if stopping.is_set():
                break
            continue
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        target = serve_connection if context is None else serve_tls_connection
        args_ = (sock,) if context is None else (sock, context)
        threading.Thread(target=target, args=args_, daemon=True).start()
    return 0


if __name__ == "__main__":
    sys.exit(main())
