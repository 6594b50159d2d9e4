"""Answers throughput commands for benchmark.html (or any client that measures).

Commands, sent as text:
  send N SIZE     the server sends N binary messages of SIZE bytes each, then the
                  text `done`: time it to measure server -> client throughput;
  receive N SIZE  the client then sends N messages (of SIZE bytes: only the count and
                  the total are checked); after the N-th the server answers
                  `received N messages, B bytes` (B counts every byte it got): time it
                  to measure client -> server throughput.
Anything else is answered with `error: ...`, and the connection stays open.

Extensions are declined: with permessage-deflate the benchmark would measure zlib
on easily compressed data, not the WebSocket connection.

Try it (server started with `-d example` on port 8880): open
http://127.0.0.1:8880/benchmark.html and press Run.
"""

from mod_ws import msgutil

MAX_COUNT = 1000000
MAX_SIZE = 16 * 1024 * 1024
_PATTERN = bytes(range(256))


def _parse(message):
    """(command, count, size) from `COMMAND N SIZE`; raises ValueError with the reason."""
    parts = message.split()
    if len(parts) != 3 or parts[0] not in ("send", "receive"):
        raise ValueError("expected 'send N SIZE' or 'receive N SIZE', got %r" % message[:80])
    if not (parts[1].isdecimal() and parts[2].isdecimal()):
        raise ValueError("N and SIZE must be whole numbers")
    count, size = int(parts[1]), int(parts[2])
    if count > MAX_COUNT or size > MAX_SIZE:
        raise ValueError("at most %d messages of %d bytes" % (MAX_COUNT, MAX_SIZE))
    return parts[0], count, size


def _send(request, count, size):
    payload = (_PATTERN * (size // len(_PATTERN) + 1))[:size]
    for _ in range(count):
        msgutil.send_message(request, payload, binary=True)
    msgutil.send_message(request, "done")


def _receive(request, count):
    """Reads `count` messages; False if the client closed before the last one."""
    total = 0
    for _ in range(count):
        message = msgutil.receive_message(request)
        if message is None:
            return False
        total += len(message if isinstance(message, bytes) else message.encode("utf-8"))
    msgutil.send_message(request, "received %d messages, %d bytes" % (count, total))
    return True


def web_socket_do_extra_handshake(request):
    request.ws_extension_processors = []  # decline permessage-deflate


def web_socket_transfer_data(request):
    while True:
        message = msgutil.receive_message(request)
        if message is None:
            return
        if not isinstance(message, str):
            msgutil.send_message(request, "error: commands are text messages")
            continue
        try:
            command, count, size = _parse(message)
        except ValueError as e:
            msgutil.send_message(request, "error: %s" % e)
            continue
        if command == "send":
            _send(request, count, size)
        elif not _receive(request, count):
            return
