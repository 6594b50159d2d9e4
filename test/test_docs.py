"""The documentation a person reads first says what the code does: `pydoc mod_ws` (the
handler-writer's guide), `pydoc mod_ws.request` and the README's option list."""

from __future__ import annotations

import re
import subprocess
import sys

from conftest import EXAMPLE, ROOT

import mod_ws
import mod_ws.request
from mod_ws.options import build_parser

# Every attribute of the request object a handler may read or set.
REQUEST_ATTRIBUTES = [
    "ws_resource", "uri", "unparsed_uri", "method", "protocol", "headers_in", "ws_origin",
    "ws_version", "ws_requested_protocols", "ws_requested_extensions",
    "ws_extension_processors", "connection", "remote_addr", "local_addr", "extra_headers",
    "is_https()", "get_peer_cert()", "ws_protocol", "ws_extensions", "ws_deflate", "ws_stream",
    "ws_close_code", "ws_close_reason", "close_handshake", "server_terminated",
    "client_terminated", "on_ping_handler", "on_pong_handler",
]


def test_pydoc_mod_ws_names_every_request_attribute_and_the_real_request_has_them():
    guide = mod_ws.__doc__
    for name in REQUEST_ATTRIBUTES:
        assert re.search(rf"\b{re.escape(name)}", guide), name
    from mod_ws.protocol.headers import Headers
    from mod_ws.server.request import Connection, WebSocketRequest
    request = WebSocketRequest("GET", "/x", "HTTP/1.1", Headers(), Connection(None, ("h", 1), ("l", 2)))
    for name in REQUEST_ATTRIBUTES:
        if name.startswith("on_"):
            continue  # set by handlers, not by the server
        owner = request.connection if name.endswith("_addr") else request
        assert hasattr(owner, name.rstrip("()")), name


def test_pydoc_mod_ws_request_shows_the_request_section_alone():
    text = subprocess.run([sys.executable, "-m", "pydoc", "mod_ws.request"], capture_output=True,
                          text=True, check=True, cwd=ROOT).stdout
    assert "The request object" in text and "ws_extension_processors" in text
    assert "The status page" not in text  # the next section of the guide
    assert mod_ws.request.__doc__.startswith("The request object\n")


def test_the_guide_s_example_is_example_echo_wsh_py_as_it_is():
    code = (EXAMPLE / "echo_wsh.py").read_text(encoding="utf-8")
    code = code.split('"""', 2)[2].strip()  # past the module docstring
    guide = mod_ws.__doc__.split("Example (example/echo_wsh.py):", 1)[1]
    shown = "\n".join(line[4:] for line in guide.split("\n\nMore examples")[0].splitlines())
    assert shown.strip() == code


def test_the_readme_documents_every_long_option():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for action in build_parser()._actions:
        names = [s for s in action.option_strings if s.startswith("--") and "_" not in s]
        if not names or names[0] in ("--help", "--version"):
            continue
        assert any(name in readme for name in names), names[0]


def test_the_readme_table_names_every_request_attribute():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("| attribute | what it holds |", 1)[1].split("\n\n", 1)[0]
    for name in REQUEST_ATTRIBUTES:
        assert f"`{name}" in table or f"{name}`" in table or name in table, name
