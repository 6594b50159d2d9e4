"""pytest fixtures that run mod_ws for one test (registered as the `pytest11` entry point
`mod_ws`, so any project with mod_ws installed has them).

- `mod_ws_server`: a started `mod_ws.Server` on a free loopback port. It serves a
  built-in `/echo` (text and binary echoed back), or, under
  `@pytest.mark.mod_ws(root=..., handlers=..., **options)`, what the marker names.
- `mod_ws_server_factory(root=None, handlers=None, **options)`: starts as many servers
  as the test wants. `handlers` is either a handler directory or a dict of handler
  sources, `{"echo": "<source>", "a/b": ...}`, written as `tmp_path/echo_wsh.py` and
  `tmp_path/a/b_wsh.py` (indentation common to every line is removed); `root` is a
  directory of handler files and static files (default: `tmp_path`). A relative `root`
  or handler directory is taken relative to the test file's directory, not to wherever
  pytest was started.

Every server a test started is stopped when the test ends (open WebSockets get 1001).
pytest imports this module in every session of every project that has mod_ws
installed, so the server itself is imported only when a fixture is used.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Union

import pytest

if TYPE_CHECKING:
    from mod_ws.embedded import Server

MARKER = "mod_ws"

# The handler `mod_ws_server` serves when no marker names others: the installed
# package has no example/ directory to take it from.
ECHO_HANDLER = '''\
"""Echoes every message back: text as text, binary as binary."""

from mod_ws import msgutil


def web_socket_do_extra_handshake(request):
    pass


def web_socket_transfer_data(request):
    while True:
        message = msgutil.receive_message(request)
        if message is None:
            return
        msgutil.send_message(request, message, binary=isinstance(message, bytes))
'''

HandlerSources = dict[str, str]
PathArg = Union[str, os.PathLike]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(root=None, handlers=None, **options): what the mod_ws_server fixture "
        "serves: a handler directory (root), handler sources ({name: source}) and "
        "mod_ws options as keywords (default: a built-in /echo)",
    )


def _handler_file(directory: Path, name: str) -> Path:
    """Where the handler for resource `name` ("echo", "/a/b") goes under `directory`."""
    parts = name.strip("/").split("/")
    if not name.strip("/") or any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"handler name {name!r}: expected a resource path such as 'echo' "
                         "or 'a/b'")
    return directory.joinpath(*parts[:-1], f"{parts[-1]}_wsh.py")


def write_handlers(directory: Path, sources: HandlerSources) -> list[Path]:
    """Writes each source as the handler file of its resource; returns the files."""
    files = []
    for name, source in sources.items():
        path = _handler_file(directory, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source), encoding="utf-8")
        files.append(path)
    return files


class _ServerFactory:
    """Starts servers for one test and stops every one of them at its end."""

    def __init__(self, tmp_path: Path, test_dir: Path) -> None:
        self._tmp_path = tmp_path
        self._test_dir = test_dir
        self.started: list[Server] = []

    def _path(self, path: PathArg) -> Path:
        return self._test_dir / path  # an absolute path stays as it is

    def __call__(self, root: PathArg | None = None,
                 handlers: HandlerSources | PathArg | None = None, **options: object) -> Server:
        from mod_ws.embedded import Server

        if isinstance(handlers, dict):
            if root is not None:
                raise ValueError("give root= (a directory of handler files) or handlers= "
                                 "as sources (written into tmp_path), not both")
            write_handlers(self._tmp_path, handlers)
            # Written as UTF-8 above, whatever the locale says.
            options.setdefault("handler_encoding", "utf-8")
        elif handlers is not None:
            options["handlers"] = self._path(handlers)
        document_root = self._tmp_path if root is None else self._path(root)
        server = Server(document_root, **options)
        self.started.append(server)
        return server.start()

    def stop_all(self) -> None:
        """Stops every server, the later ones first; re-raises the first failure."""
        failure: BaseException | None = None
        while self.started:
            try:
                self.started.pop().stop()
            except Exception as e:  # noqa: BLE001 - the others must still be stopped
                failure = failure or e
        if failure is not None:
            raise failure


@pytest.fixture
def mod_ws_server_factory(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Callable[..., Server]]:
    """factory(root=None, handlers=None, **options) -> a started mod_ws.Server.

    `handlers`: a dict {resource name: handler source} written into tmp_path, or a
    handler directory; `root`: the document root, handlers included (default:
    tmp_path); `options`: mod_ws.Server's keywords. All are stopped after the test.
    """
    factory = _ServerFactory(tmp_path, request.node.path.parent)
    try:
        yield factory
    finally:
        factory.stop_all()


@pytest.fixture
def mod_ws_server(mod_ws_server_factory: Callable[..., Server],
                  request: pytest.FixtureRequest) -> Server:
    """A started mod_ws.Server: `.url("/echo")` echoes text and binary, unless the
    test's `@pytest.mark.mod_ws(root=..., handlers=..., **options)` says otherwise."""
    marker = request.node.get_closest_marker(MARKER)
    args, kwargs = (marker.args, dict(marker.kwargs)) if marker else ((), {})
    if len(args) > 1 or (args and "root" in kwargs):
        raise TypeError(f"@pytest.mark.{MARKER} takes at most one positional "
                                "argument, the root")
    if args:
        kwargs["root"] = args[0]
    if kwargs.get("root") is None and kwargs.get("handlers") is None:
        kwargs["handlers"] = {"echo": ECHO_HANDLER}
    return mod_ws_server_factory(**kwargs)
