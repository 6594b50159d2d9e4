"""Runs the Autobahn|Testsuite fuzzing client against a fresh mod_ws serving example/.

    python test/run_autobahn.py                          # groups 1-7 and 10 (CI)
    python test/run_autobahn.py --cases '*' --unimplemented-fails   # the full suite
    python test/run_autobahn.py --tls [--tls-module pyopenssl|ssl] [ARGS]   # over wss://
    python test/run_autobahn.py --h2 [ARGS]              # over HTTP/2 (RFC 8441)

Starts `python -m mod_ws` on a free loopback port, runs ../shared/autobahn/run against
its /echo handler with the remaining arguments (default: `--exclude 9.*,12.*,13.*`),
stops the server by its PID and exits with the suite's status. Reports land in
/tmp/autobahn-reports/mod_ws.

--tls starts the server with --tls and the test certificate in cert/ (with
--tls-module MODULE, default pyopenssl). The suite's client speaks only ws://, so a
TLS-terminating shim (test/tls_shim.py) listens on another free loopback port and relays
each plain connection over its own TLS connection to the server, verified against
cert/ca.pem for "localhost"; the suite runs against ws://127.0.0.1:SHIM_PORT/echo.
Reports then land in /tmp/autobahn-reports/mod_ws-tls (unless --outdir is given), so a
TLS run and a plain run do not overwrite each other's.

--h2 starts the server with --tls --http2 and puts test/h2_bridge.py in front: each of
the suite's HTTP/1.1 WebSockets is carried to the server as an extended CONNECT on an
HTTP/2 connection of its own, the frames unchanged. Reports: mod_ws-h2.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from tls_shim import TLSShim

ROOT = Path(__file__).resolve().parent.parent
AUTOBAHN = ROOT.parent / "shared" / "autobahn" / "run"
START_TIMEOUT = 15.0
CERT = ROOT / "cert"
TLS_MODULES = ("pyopenssl", "ssl")


def start_server(extra: tuple[str, ...] = ()) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mod_ws", "-H", "127.0.0.1", "-p", "0", "-d", str(ROOT / "example"),
         *extra],
        cwd=ROOT, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + START_TIMEOUT
    assert proc.stderr is not None
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        match = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        if match:
            # Keep reading, so a chatty server never blocks on a full pipe.
            threading.Thread(target=shutil.copyfileobj, args=(proc.stderr, sys.stderr),
                             daemon=True).start()
            return proc, int(match.group(1))
        if not line and proc.poll() is not None:
            break
    proc.kill()
    sys.exit("run_autobahn: the server did not start")


def split_tls_options(argv: list[str]) -> tuple[str | None, list[str]]:
    """Takes --tls and --tls-module MODULE out of argv; returns (the TLS module or None
    without --tls, the arguments left for the suite)."""
    tls, module, module_given, rest = False, "pyopenssl", False, []
    args = iter(argv)
    for arg in args:
        if arg == "--tls":
            tls = True
        elif arg == "--tls-module" or arg.startswith("--tls-module="):
            module = arg.partition("=")[2] if "=" in arg else next(args, "")
            module_given = True
            if module not in TLS_MODULES:
                sys.exit(f"run_autobahn: --tls-module must be one of {', '.join(TLS_MODULES)}")
        else:
            rest.append(arg)
    if module_given and not tls:
        sys.exit("run_autobahn: --tls-module needs --tls")
    return (module if tls else None), rest


def main(argv: list[str]) -> int:
    if not AUTOBAHN.exists():
        print(f"run_autobahn: {AUTOBAHN} not found", file=sys.stderr)
        return 2
    h2 = "--h2" in argv
    argv = [a for a in argv if a != "--h2"]
    tls_module, argv = split_tls_options(argv)
    if h2 and tls_module is None:
        tls_module = "pyopenssl"
    args = argv or ["--exclude", "9.*,12.*,13.*"]
    if tls_module is None:
        proc, port = start_server()
    else:
        proc, port = start_server(("--tls", "--private-key", str(CERT / "server-key.pem"),
                                   "--certificate", str(CERT / "server.pem"),
                                   "--tls-module", tls_module) + (("--http2",) if h2 else ()))
        if not any(a == "--outdir" or a.startswith("--outdir=") for a in args):
            out = (Path(os.environ.get("AUTOBAHN_OUT", "/tmp/autobahn-reports"))
                   / ("mod_ws-h2" if h2 else "mod_ws-tls"))
            args = [*args, "--outdir", str(out)]
    shim = None
    try:
        if h2:
            from h2_bridge import H2Bridge  # needs the h2 library

            shim = H2Bridge("127.0.0.1", port, cafile=str(CERT / "ca.pem"))
            server_port, port = port, shim.start()
            print(f"run_autobahn: HTTP/2 bridge 127.0.0.1:{port} -> extended CONNECT over h2 "
                  f"to 127.0.0.1:{server_port}", file=sys.stderr, flush=True)
        elif tls_module is not None:
            shim = TLSShim("127.0.0.1", port, cafile=str(CERT / "ca.pem"),
                           server_hostname="localhost")
            server_port, port = port, shim.start()
            print(f"run_autobahn: TLS shim 127.0.0.1:{port} -> TLS to 127.0.0.1:{server_port}"
                  f" as localhost (server --tls-module {tls_module})", file=sys.stderr, flush=True)
        return subprocess.run(
            [str(AUTOBAHN), f"ws://127.0.0.1:{port}/echo", "--agent", "mod_ws", *args]
        ).returncode
    finally:
        if shim is not None:
            shim.stop()
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
