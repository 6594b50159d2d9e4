"""Embeds mod_ws the way web-platform-tests' tools/serve embeds pywebsocket3.

Run by test_e2e_embedding.py as a subprocess: the steps, names and order are WPT's
(`_parse_args_and_config`, the two attributes it sets, `WebSocketServer(opts)`, the
bound ports read from `_sockets`, `serve_forever` on a daemon thread, then `shutdown`,
`server_close` and a join). It prints one JSON line when listening, waits for a line
on stdin, stops, and prints one JSON line of what is left (threads, descriptors).

    python like_wpt.py <pywebsocket command line words...>
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
import threading

# WPT reloads logging in the child process before it starts the server.
importlib.reload(logging)

from mod_ws import standalone as pywebsocket  # noqa: E402 - after the reload, as WPT


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def main() -> None:
    descriptors_before = open_descriptors()
    opts, args = pywebsocket._parse_args_and_config(sys.argv[1:])
    opts.cgi_directories = []
    opts.is_executable_method = None
    server = pywebsocket.WebSocketServer(opts)
    ports = [item[0].getsockname()[1] for item in server._sockets]
    print(json.dumps({"ports": ports, "args": args}), flush=True)
    if not ports:
        return
    thread = threading.Thread(target=server.serve_forever)
    thread.daemon = True
    thread.start()
    sys.stdin.readline()
    server.shutdown()
    server.server_close()
    thread.join()
    print(json.dumps({
        "threads": [t.name for t in threading.enumerate()],
        "descriptors_left": open_descriptors() - descriptors_before,
        "sockets_after_close": len(server._sockets),
    }), flush=True)


if __name__ == "__main__":
    main()
