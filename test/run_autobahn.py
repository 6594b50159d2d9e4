"""Runs the Autobahn|Testsuite fuzzing client against a fresh mod_ws serving example/.

    python test/run_autobahn.py                          # groups 1-7 and 10 (CI)
    python test/run_autobahn.py --cases '*' --unimplemented-fails   # the full suite

Starts `python -m mod_ws` on a free loopback port, runs ../shared/autobahn/run against
its /echo handler with the remaining arguments (default: `--exclude 9.*,12.*,13.*`),
stops the server by its PID and exits with the suite's status. Reports land in
/tmp/autobahn-reports/mod_ws.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AUTOBAHN = ROOT.parent / "shared" / "autobahn" / "run"
START_TIMEOUT = 15.0


def start_server() -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mod_ws", "-H", "127.0.0.1", "-p", "0", "-d", str(ROOT / "example")],
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


def main(argv: list[str]) -> int:
    if not AUTOBAHN.exists():
        print(f"run_autobahn: {AUTOBAHN} not found", file=sys.stderr)
        return 2
    args = argv or ["--exclude", "9.*,12.*,13.*"]
    proc, port = start_server()
    try:
        return subprocess.run(
            [str(AUTOBAHN), f"ws://127.0.0.1:{port}/echo", "--agent", "mod_ws", *args]
        ).returncode
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
