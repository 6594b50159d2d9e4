"""mod_ws/pytest_plugin.py: the fixtures as another project's tests use them.

Each test writes a small test file and runs pytest on it in a subprocess (pytester),
with the plugin loaded the way pytest loads it: through the `pytest11` entry point
where the installed metadata has it, else with `-p mod_ws.pytest_plugin`.
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "example"
CERT = ROOT / "cert"
RUN_TIMEOUT = 120.0


def _declared_entry_points() -> list[importlib.metadata.EntryPoint]:
    points = importlib.metadata.entry_points()
    if hasattr(points, "select"):
        group = points.select(group="pytest11")
    else:  # Python 3.9: a dict of groups
        group = points.get("pytest11", [])
    return [point for point in group if point.value == "mod_ws.pytest_plugin"]


def _plugin_args() -> list[str]:
    """Nothing if pytest loads the plugin by itself (entry point installed, autoload on)."""
    if _declared_entry_points() and not os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        return []
    return ["-p", "mod_ws.pytest_plugin"]


@pytest.fixture
def run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):
    """Runs pytest in a subprocess on the files written into pytester's directory."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))

    def run_pytest(*args: str) -> pytest.RunResult:
        return pytester.runpytest_subprocess(*_plugin_args(), "-p", "no:cacheprovider", *args,
                                             timeout=RUN_TIMEOUT)

    return run_pytest


CLIENT_TESTS = f'''
import socket

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

TIMEOUT = 10
GREETER = """
    def web_socket_do_extra_handshake(request):
        pass

    def web_socket_transfer_data(request):
        request.ws_stream.send_message("hello from " + request.ws_resource)
"""
ports = {{}}


def refuses(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


def test_the_default_server_echoes_text_and_binary(mod_ws_server):
    assert mod_ws_server.url() == f"ws://127.0.0.1:{{mod_ws_server.port}}/echo"
    assert mod_ws_server.resources() == ["/echo"]
    with connect(mod_ws_server.url(), open_timeout=TIMEOUT) as ws:
        ws.send("text")
        assert ws.recv(timeout=TIMEOUT) == "text"
        ws.send(b"\\x00binary")
        assert ws.recv(timeout=TIMEOUT) == b"\\x00binary"
    ports["default"] = mod_ws_server.port


def test_the_server_of_the_previous_test_was_stopped():
    assert refuses(ports["default"])


@pytest.mark.xfail(strict=True, reason="fails on purpose, with a connection open")
def test_a_failing_test_holding_a_websocket(mod_ws_server):
    ports["failed"] = mod_ws_server.port
    ws = connect(mod_ws_server.url(), open_timeout=TIMEOUT).__enter__()
    ports["ws"] = ws
    assert False


def test_its_server_was_stopped_too_with_1001():
    assert refuses(ports["failed"])
    with pytest.raises(ConnectionClosed) as closed:
        ports["ws"].recv(timeout=TIMEOUT)
    assert closed.value.rcvd.code == 1001


def test_the_factory_writes_handlers_into_tmp_path(mod_ws_server_factory, tmp_path):
    server = mod_ws_server_factory(handlers={{"greet": GREETER, "a/b": GREETER}})
    assert server.resources() == ["/a/b", "/greet"]
    assert (tmp_path / "a" / "b_wsh.py").is_file()
    for path in ("/greet", "/a/b"):
        with connect(server.url(path), open_timeout=TIMEOUT) as ws:
            assert ws.recv(timeout=TIMEOUT) == "hello from " + path
    other = mod_ws_server_factory(root={str(EXAMPLE)!r})
    assert other.port != server.port and "/echo" in other.resources()
    ports["factory"] = (server.port, other.port)


def test_every_server_of_the_factory_was_stopped():
    assert all(refuses(port) for port in ports["factory"])


def test_the_factory_refuses_unclear_arguments(mod_ws_server_factory, tmp_path):
    with pytest.raises(ValueError, match="not both"):
        mod_ws_server_factory(root=tmp_path, handlers={{"x": GREETER}})
    with pytest.raises(ValueError, match="handler name '../x'"):
        mod_ws_server_factory(handlers={{"../x": GREETER}})


@pytest.mark.mod_ws(root={str(EXAMPLE)!r})
def test_the_marker_names_the_handler_root(mod_ws_server):
    assert {{"/echo", "/close"}} <= set(mod_ws_server.resources())


@pytest.mark.mod_ws(max_message_size=4)
def test_marker_options_keep_the_builtin_echo(mod_ws_server):
    with connect(mod_ws_server.url(), open_timeout=TIMEOUT) as ws:
        ws.send("four")
        assert ws.recv(timeout=TIMEOUT) == "four"
        ws.send("five!")
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=TIMEOUT)
    assert closed.value.rcvd.code == 1009


@pytest.mark.mod_ws(tls=True, certificate={str(CERT / "server.pem")!r},
                    private_key={str(CERT / "server-key.pem")!r})
def test_a_tls_marker_gives_wss(mod_ws_server):
    import ssl

    assert mod_ws_server.url().startswith("wss://127.0.0.1:")
    context = ssl.create_default_context(cafile={str(CERT / "ca.pem")!r})
    try:
        ws = connect(mod_ws_server.url(), ssl=context, open_timeout=TIMEOUT)
    except TimeoutError:  # the client's TLS 1.3 ticket race: see connect_wss in test/conftest.py
        ws = connect(mod_ws_server.url(), ssl=context, open_timeout=TIMEOUT)
    with ws:
        ws.send("secure")
        assert ws.recv(timeout=TIMEOUT) == "secure"


@pytest.mark.mod_ws(prot=8880)
def test_a_bad_marker_option_is_a_setup_error(mod_ws_server):
    pass
'''

RELATIVE_ROOT_TEST = '''
import pytest
from websockets.sync.client import connect


@pytest.mark.mod_ws(root="handlers")
def test_a_relative_root_is_beside_the_test_file(mod_ws_server):
    with connect(mod_ws_server.url("/hello"), open_timeout=10) as ws:
        assert ws.recv(timeout=10) == "hello"


@pytest.mark.mod_ws("handlers")
def test_the_root_may_be_positional(mod_ws_server):
    assert mod_ws_server.resources() == ["/hello"]
'''

HELLO_HANDLER = '''
def web_socket_do_extra_handshake(request):
    pass


def web_socket_transfer_data(request):
    request.ws_stream.send_message("hello")
'''


def test_fixtures_and_marker_in_a_client_librarys_tests(pytester: pytest.Pytester, run) -> None:
    pytester.makepyfile(test_client=CLIENT_TESTS)
    sub = pytester.mkdir("sub")
    (sub / "handlers").mkdir()
    (sub / "handlers" / "hello_wsh.py").write_text(HELLO_HANDLER)
    (sub / "test_relative.py").write_text(RELATIVE_ROOT_TEST)
    # Run from pytester's directory: "handlers" must resolve beside sub/test_relative.py.
    result = run("--strict-markers", "-W", "error::DeprecationWarning", "-rA")
    result.assert_outcomes(passed=11, xfailed=1, errors=1)
    result.stdout.fnmatch_lines(["*test_a_bad_marker_option_is_a_setup_error*",
                                 "*OptionError: unknown option 'prot'*"])


def test_the_marker_is_registered(run) -> None:
    result = run("--markers")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["@pytest.mark.mod_ws(root=None, handlers=None, **options):*"])


def test_the_pytest11_entry_point_is_declared() -> None:
    points = _declared_entry_points()
    # A set: Python 3.9 lists a distribution once per sys.path entry that holds it.
    assert {(point.name, point.value) for point in points} == {("mod_ws", "mod_ws.pytest_plugin")}, (
        "no pytest11 entry point for mod_ws.pytest_plugin: re-run `pip install -e .`")
    import mod_ws.pytest_plugin

    assert points[0].load() is mod_ws.pytest_plugin


def test_pytest_loads_the_plugin_by_its_entry_point_name(pytester: pytest.Pytester,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    if not _declared_entry_points():
        pytest.fail("no pytest11 entry point for mod_ws.pytest_plugin: re-run `pip install -e .`")
    # Autoload off, then `-p mod_ws`: only the entry point can make that name the plugin.
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makepyfile(test_uses_it="def test_it(mod_ws_server):\n    assert mod_ws_server.port\n")
    result = pytester.runpytest_subprocess("-p", "mod_ws", "-p", "no:cacheprovider",
                                           timeout=RUN_TIMEOUT)
    result.assert_outcomes(passed=1)


def test_importing_the_plugin_does_not_import_the_server() -> None:
    probe = (
        "import sys\n"
        "import mod_ws.pytest_plugin\n"
        "heavy = [m for m in ('mod_ws.embedded', 'mod_ws.standalone', 'mod_ws.server.listener',"
        " 'mod_ws.options', 'websockets') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                          text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
