"""CGI programs (RFC 3875) end to end: the real server with -x/--cgi-paths runs
executable files under those paths, with their output as the response."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest
import wsraw

TIMEOUT = 10.0

ENV_SCRIPT = """#!{python}
import json, os, sys
body = sys.stdin.buffer.read(int(os.environ.get("CONTENT_LENGTH") or 0))
names = ("GATEWAY_INTERFACE", "REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING",
         "CONTENT_LENGTH", "CONTENT_TYPE", "HTTP_X_TEST", "HTTP_AUTHORIZATION", "SERVER_PROTOCOL",
         "REMOTE_ADDR", "HTTPS")
print("Content-Type: application/json")
print("X-From-Script: yes")
print()
print(json.dumps({{"env": {{n: os.environ.get(n) for n in names}}, "body": body.decode()}}))
"""

STATUS_SCRIPT = """#!{python}
print("Status: 418 I'm a teapot")
print("Content-Type: text/plain")
print()
print("short and stout")
"""

REDIRECT_SCRIPT = """#!{python}
print("Location: https://example.invalid/elsewhere")
print()
"""

FAILING_SCRIPT = """#!{python}
import sys
sys.stderr.write("something broke\\n")
sys.exit(3)
"""

NO_HEADERS_SCRIPT = """#!{python}
import sys
sys.stdout.write("just text, no header block")
"""

SLOW_SCRIPT = """#!{python}
import time
time.sleep(30)
"""


def write_script(path: Path, source: str, executable: bool = True) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source.format(python=sys.executable))
    path.chmod(0o755 if executable else 0o644)


@pytest.fixture(scope="module")
def cgi_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cgi")
    cgi = root / "cgi-bin"
    write_script(cgi / "env.py", ENV_SCRIPT)
    write_script(cgi / "status.py", STATUS_SCRIPT)
    write_script(cgi / "redirect.py", REDIRECT_SCRIPT)
    write_script(cgi / "fail.py", FAILING_SCRIPT)
    write_script(cgi / "noheaders.py", NO_HEADERS_SCRIPT)
    write_script(cgi / "slow.py", SLOW_SCRIPT)
    write_script(cgi / "plain.py", ENV_SCRIPT, executable=False)
    write_script(root / "elsewhere" / "env.py", ENV_SCRIPT)  # executable, not under -x
    return root


@pytest.fixture(scope="module")
def cgi_server(make_module_server, cgi_root):
    return make_module_server("-d", cgi_root, "-x", "/cgi-bin", "--cgi-timeout", "1")


def request(port: int, text: str, body: bytes = b"") -> wsraw.HttpResponse:
    response, _ = wsraw.http_exchange(port, text.encode("latin-1") + body, timeout=TIMEOUT)
    return response


def test_get_runs_the_program_with_its_meta_variables(cgi_server):
    response = request(cgi_server.port, "GET /cgi-bin/env.py/extra/path?a=1&b=2 HTTP/1.1\r\n"
                       "Host: x\r\nX-Test: seen\r\nAuthorization: Basic c2VjcmV0\r\n\r\n")
    assert response.status == 200
    assert response.header("Content-Type") == "application/json"
    assert response.header("X-From-Script") == "yes"
    assert response.header("Content-Length") == str(len(response.body))
    env = json.loads(response.body)["env"]
    assert env["GATEWAY_INTERFACE"] == "CGI/1.1" and env["REQUEST_METHOD"] == "GET"
    assert env["SCRIPT_NAME"] == "/cgi-bin/env.py" and env["PATH_INFO"] == "/extra/path"
    assert env["QUERY_STRING"] == "a=1&b=2" and env["HTTP_X_TEST"] == "seen"
    assert env["HTTP_AUTHORIZATION"] is None  # credentials stay with the server
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1" and env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["HTTPS"] is None


def test_post_hands_the_body_to_the_program_on_stdin(cgi_server):
    body = "name=value&ü=1".encode()
    response = request(cgi_server.port, "POST /cgi-bin/env.py HTTP/1.1\r\nHost: x\r\n"
                       "Content-Type: application/x-www-form-urlencoded\r\n"
                       f"Content-Length: {len(body)}\r\n\r\n", body)
    answer = json.loads(response.body)
    assert response.status == 200 and answer["body"] == body.decode()
    assert answer["env"]["CONTENT_LENGTH"] == str(len(body))
    assert answer["env"]["CONTENT_TYPE"] == "application/x-www-form-urlencoded"


def test_a_post_without_content_length_is_411(cgi_server):
    response = request(cgi_server.port, "POST /cgi-bin/env.py HTTP/1.1\r\nHost: x\r\n"
                       "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    assert response.status == 411


def test_head_gets_the_programs_headers_without_its_body(cgi_server):
    with wsraw.Conn.open(cgi_server.port) as conn:
        conn.send(b"HEAD /cgi-bin/status.py HTTP/1.1\r\nHost: x\r\n\r\n")
        response = conn.read_http_response(head_only=True)
        assert response.status == 418
        assert conn.read_to_eof(TIMEOUT) == b""


def test_status_and_location_headers_set_the_status(cgi_server):
    response = request(cgi_server.port, "GET /cgi-bin/status.py HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (response.status, response.body) == (418, b"short and stout\n")
    response = request(cgi_server.port, "GET /cgi-bin/redirect.py HTTP/1.1\r\nHost: x\r\n\r\n")
    assert response.status == 302
    assert response.header("Location") == "https://example.invalid/elsewhere"


@pytest.mark.parametrize("script, status, words", [
    ("fail.py", 500, b"exited with status 3"),
    ("noheaders.py", 500, b"no header block"),
    ("slow.py", 504, b"did not finish within 1 s"),
])
def test_a_failing_slow_or_malformed_program_is_a_one_line_error(cgi_server, script, status, words):
    started = time.monotonic()
    response = request(cgi_server.port, f"GET /cgi-bin/{script} HTTP/1.1\r\nHost: x\r\n\r\n")
    assert response.status == status and words in response.body
    assert response.body.count(b"\n") == 1
    assert time.monotonic() - started < 5


def test_the_slow_program_is_killed_and_reaped(cgi_server):
    request(cgi_server.port, "GET /cgi-bin/slow.py HTTP/1.1\r\nHost: x\r\n\r\n")
    children = Path(f"/proc/{cgi_server.pid}/task")
    kids = []
    for task in children.iterdir():
        kids += (task / "children").read_text().split()
    assert kids == []


def test_a_non_executable_file_under_the_cgi_path_is_a_static_file(cgi_server, cgi_root):
    response = request(cgi_server.port, "GET /cgi-bin/plain.py HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert response.status == 200 and response.body == (cgi_root / "cgi-bin" / "plain.py").read_bytes()


def test_an_executable_outside_the_cgi_paths_is_a_static_file(cgi_server, cgi_root):
    response = request(cgi_server.port, "GET /elsewhere/env.py HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert response.status == 200 and response.body.startswith(b"#!")


@pytest.mark.parametrize("path", ["/cgi-bin/../cgi-bin/env.py", "/cgi-bin/%2e%2e/elsewhere/env.py",
                                  "/cgi-bin/..%2fcgi-bin/env.py"])
def test_traversal_attempts_are_refused(cgi_server, path):
    response = request(cgi_server.port, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n")
    assert response.status in (400, 403, 404)


def test_cgi_paths_slash_makes_every_executable_a_program(make_server, cgi_root):
    """Chromium's web-test launcher passes --cgi-paths /."""
    server = make_server("-d", cgi_root, "--cgi-paths", "/")
    response = request(server.port, "GET /elsewhere/env.py?x HTTP/1.1\r\nHost: x\r\n\r\n")
    assert response.status == 200 and json.loads(response.body)["env"]["QUERY_STRING"] == "x"


def test_without_cgi_paths_nothing_runs(make_server, cgi_root):
    server = make_server("-d", cgi_root)
    response = request(server.port, "GET /cgi-bin/env.py HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert response.status == 200 and response.body.startswith(b"#!")
    assert os.access(cgi_root / "cgi-bin" / "env.py", os.X_OK)
