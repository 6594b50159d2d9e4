"""CGI programs (RFC 3875) under the `-x/--cgi-paths` folders of the document root.

An executable regular file under one of those URL paths runs as a CGI program for GET,
HEAD and POST (Chromium's web tests launch the server with `--cgi-paths /`): its
meta-variables in the environment, the request body on stdin, no shell, a bounded run
time (`--cgi-timeout`), and the process reaped whatever happens. Its output's header
block (`Status:`, `Location:`, `Content-Type:` and any other field) becomes the
response. A file there that is not executable is a static file. Written without the
standard library's `cgi` module and `CGIHTTPRequestHandler`, which newer Pythons no
longer have.
"""

from __future__ import annotations

import logging
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from mod_ws.common import (
    HTTP_STATUS_BAD_REQUEST,
    HTTP_STATUS_CONTENT_TOO_LARGE,
    HTTP_STATUS_GATEWAY_TIMEOUT,
    HTTP_STATUS_INTERNAL_SERVER_ERROR,
    HTTP_STATUS_LENGTH_REQUIRED,
)
from mod_ws.exceptions import HttpError
from mod_ws.protocol.headers import Headers
from mod_ws.protocol.opening import HeaderLookup
from mod_ws.server.static_files import is_within, path_segments

_logger = logging.getLogger(__name__)

# The largest request body handed to a CGI program.
MAX_CGI_BODY = 16 * 1024 * 1024
# Fields never passed on as HTTP_* meta-variables (RFC 3875 section 4.1.18): the body's
# own are CONTENT_*, and credentials stay with the server.
_NOT_PASSED = frozenset(("content-type", "content-length", "authorization", "proxy-authorization"))


@dataclass
class CgiScript:
    """A request path that names a CGI program."""

    path: Path  # the executable, resolved
    script_name: str  # the URL path of the program
    path_info: str  # what follows it in the URL path ("" or "/...")


@dataclass
class CgiResponse:
    """What a CGI program answered."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


def normalize_cgi_paths(value: str | None) -> list[str]:
    """`-x /cgi-bin,/htbin` as URL path prefixes ("/" for every path)."""
    paths = []
    for item in (value or "").split(","):
        item = item.strip()
        if item:
            paths.append("/" + item.strip("/"))
    return paths


def find_cgi_script(root: Path, cgi_paths: list[str], url_path: str,
                    follow_symlinks_out: bool = False) -> CgiScript | None:
    """The CGI program a URL path names (with any PATH_INFO after it), or None when it
    names none: not under a CGI path, not a file, or not executable."""
    _, segments = path_segments(url_path)
    for end in range(1, len(segments) + 1):
        script_name = "/" + "/".join(segments[:end])
        if not any(script_name == p or script_name.startswith(p.rstrip("/") + "/") for p in cgi_paths):
            continue
        candidate = root.joinpath(*segments[:end])
        if candidate.is_dir():
            continue
        try:
            real = candidate.resolve(strict=True)
        except (OSError, RuntimeError):
            return None
        if not follow_symlinks_out and not is_within(real, root):
            return None
        if not real.is_file() or not os.access(real, os.X_OK):
            return None
        rest = segments[end:]
        return CgiScript(real, script_name, "/" + "/".join(rest) if rest else "")
    return None


def cgi_environment(script: CgiScript, method: str, query: str, headers: Headers,
                    server: tuple[str, int], remote: tuple,
                    protocol: str, secure: bool, body_length: int, root: Path) -> dict[str, str]:
    """The meta-variables of RFC 3875 section 4.1 for one request."""
    env = {
        "GATEWAY_INTERFACE": "CGI/1.1",
        "SERVER_SOFTWARE": "mod_ws",
        "SERVER_NAME": (headers.get_all("Host") or [server[0]])[0].rsplit(":", 1)[0].strip("[]"),
        "SERVER_PORT": str(server[1]),
        "SERVER_PROTOCOL": protocol,
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": script.script_name,
        "SCRIPT_FILENAME": str(script.path),
        "PATH_INFO": script.path_info,
        "QUERY_STRING": query,
        "REMOTE_ADDR": str(remote[0]),
        "REMOTE_PORT": str(remote[1]),
        "DOCUMENT_ROOT": str(root),
        "PATH": os.environ.get("PATH", os.defpath),
    }
    if script.path_info:
        env["PATH_TRANSLATED"] = str(root / script.path_info.lstrip("/"))
    if secure:
        env["HTTPS"] = "on"
    if body_length or method == "POST":
        env["CONTENT_LENGTH"] = str(body_length)
    content_type = headers.get_all("Content-Type")
    if content_type:
        env["CONTENT_TYPE"] = content_type[0]
    for name, value in headers.items():
        if name.lower() in _NOT_PASSED:
            continue
        key = "HTTP_" + name.upper().replace("-", "_")
        env[key] = f"{env[key]}, {value}" if key in env else value
    return env


def request_body_length(method: str, headers: HeaderLookup) -> int:
    """How many body bytes to read for the program (HttpError for a body it cannot take)."""
    if headers.get_all("Transfer-Encoding"):
        raise HttpError(HTTP_STATUS_LENGTH_REQUIRED, "a CGI request body needs Content-Length, not chunks")
    values = headers.get_all("Content-Length")
    if not values:
        if method == "POST":
            raise HttpError(HTTP_STATUS_LENGTH_REQUIRED, "a POST to a CGI program needs Content-Length")
        return 0
    if len(set(values)) != 1 or not values[0].strip().isdigit():
        raise HttpError(HTTP_STATUS_BAD_REQUEST, f"bad Content-Length {values[0]!r}")
    length = int(values[0])
    if length > MAX_CGI_BODY:
        raise HttpError(HTTP_STATUS_CONTENT_TOO_LARGE,
                        f"request body of {length} bytes exceeds {MAX_CGI_BODY} for CGI")
    return length


def parse_cgi_output(output: bytes) -> CgiResponse:
    """The response a program's output describes (RFC 3875 section 6); HttpError 500 for
    output that is not a CGI response."""
    for separator in (b"\r\n\r\n", b"\n\n"):
        head, found, body = output.partition(separator)
        if found:
            break
    else:
        raise HttpError(HTTP_STATUS_INTERNAL_SERVER_ERROR,
                        "CGI program output has no header block (no empty line after the headers)")
    status = 200
    headers: list[tuple[str, str]] = []
    location = None
    for line in head.decode("latin-1").replace("\r\n", "\n").split("\n"):
        name, colon, value = line.partition(":")
        if not colon or not name.strip() or name != name.strip():
            raise HttpError(HTTP_STATUS_INTERNAL_SERVER_ERROR,
                            f"CGI program output has a malformed header line {line[:60]!r}")
        value = value.strip()
        lowered = name.lower()
        if lowered == "status":
            code = value.split(" ", 1)[0]
            if not (code.isdigit() and len(code) == 3):
                raise HttpError(HTTP_STATUS_INTERNAL_SERVER_ERROR, f"CGI program sent a bad Status {value!r}")
            status = int(code)
            continue
        if lowered == "location":
            location = value
        if lowered in ("content-length", "connection", "transfer-encoding"):
            continue  # the server frames the response itself
        headers.append((name, value))
    if location is not None and status == 200:
        status = 302  # a client redirect response (section 6.2.3)
    return CgiResponse(status, headers, body)


def run_cgi(script: CgiScript, env: dict[str, str], body: bytes, timeout: float) -> CgiResponse:
    """Runs the program with `body` on stdin for at most `timeout` seconds; its answer,
    or HttpError 500 (cannot run, failed) / 504 (too slow). The process is always reaped."""
    try:
        process = subprocess.Popen([str(script.path)], cwd=str(script.path.parent), env=env,
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, start_new_session=True)
    except OSError as e:
        raise HttpError(HTTP_STATUS_INTERNAL_SERVER_ERROR,
                        f"cannot run CGI program {script.script_name}: {e.strerror or e}") from None
    try:
        output, errors = process.communicate(body, timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise HttpError(HTTP_STATUS_GATEWAY_TIMEOUT,
                        f"CGI program {script.script_name} did not finish within {timeout:g} s") from None
    finally:
        if process.poll() is None:  # an exception above: never leave a child behind
            process.kill()
            process.wait()
    if errors:
        _logger.warning("CGI program %s wrote to stderr: %s", script.script_name,
                        errors.decode("utf-8", "replace").strip()[:500])
    if process.returncode != 0 and not output:
        raise HttpError(HTTP_STATUS_INTERNAL_SERVER_ERROR,
                        f"CGI program {script.script_name} exited with status {process.returncode}")
    return parse_cgi_output(output)


__all__ = [
    "CgiResponse",
    "CgiScript",
    "cgi_environment",
    "find_cgi_script",
    "normalize_cgi_paths",
    "parse_cgi_output",
    "request_body_length",
    "run_cgi",
]
