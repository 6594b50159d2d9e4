"""Unit tests of handler discovery, loading and calling (mod_ws.dispatch)."""

from __future__ import annotations

import logging
import os
import textwrap
import types
from pathlib import Path

import pytest

from mod_ws.dispatch import Dispatcher, load_handler_map, resource_path
from mod_ws.exceptions import (
    AbortedByUserException,
    ConnectionTerminatedException,
    DispatchException,
    HandshakeException,
)

GOOD = """
def web_socket_do_extra_handshake(request):
    request.seen_by = {name!r}

def web_socket_transfer_data(request):
    request.transferred_by = {name!r}
"""


def write(root: Path, relative: str, source: str, encoding: str = "utf-8") -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source), encoding=encoding)
    return path


def write_good(root: Path, relative: str) -> Path:
    return write(root, relative, GOOD.format(name=relative))


def make_request(resource: str, **attributes) -> types.SimpleNamespace:
    return types.SimpleNamespace(ws_resource=resource, **attributes)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path.resolve() / "handlers"
    write_good(r, "a_wsh.py")
    write_good(r, "sub/b_wsh.py")
    write_good(r, "sub/deeper/c_wsh.py")
    write(r, "sub/not_a_handler.py", "raise RuntimeError('never loaded')\n")
    return r


# --- discovery -----------------------------------------------------------------------


def test_handlers_are_found_recursively_and_named_by_relative_path(root):
    dispatcher = Dispatcher(str(root))
    assert dispatcher.resources() == ["/a", "/sub/b", "/sub/deeper/c"]
    assert dispatcher.source_warnings() == []


def test_handler_functions_are_the_ones_in_the_file(root):
    dispatcher = Dispatcher(str(root))
    suite = dispatcher.get_handler_suite("/sub/b")
    assert suite.path == root / "sub" / "b_wsh.py"
    request = make_request("/sub/b")
    suite.transfer_data(request)
    assert request.transferred_by == "sub/b_wsh.py"


@pytest.mark.parametrize("resource", ["/a?x=1", "/a?", "/a#frag", "/a?q=/sub/b#f"])
def test_query_and_fragment_are_ignored_when_selecting_handler(root, resource):
    dispatcher = Dispatcher(str(root))
    assert dispatcher.get_handler_suite(resource) is dispatcher.get_handler_suite("/a")
    assert dispatcher.get_handler_suite(resource) is not None


def test_resource_path_strips_query_and_fragment():
    assert resource_path("/a/b?x=1#y") == "/a/b"
    assert resource_path("/a#y?x") == "/a"
    assert resource_path("/a") == "/a"


@pytest.mark.parametrize("resource", ["/missing", "/a/", "/A", "a", "/sub", "/a_wsh", "/sub/not_a_handler"])
def test_unknown_resource_has_no_handler(root, resource):
    assert Dispatcher(str(root)).get_handler_suite(resource) is None


BROKEN = {
    "syntax_wsh.py": "def web_socket_transfer_data(request)\n    pass\n",
    "raises_wsh.py": "raise RuntimeError('boom at import')\n",
    "no_transfer_wsh.py": "def web_socket_do_extra_handshake(request):\n    pass\n",
    "no_handshake_wsh.py": "def web_socket_transfer_data(request):\n    pass\n",
    "not_callable_wsh.py": (
        "def web_socket_do_extra_handshake(request):\n    pass\nweb_socket_transfer_data = 5\n"
    ),
    "exits_wsh.py": "import sys\nsys.exit(3)\n",
}


def test_broken_handler_files_are_skipped_with_a_warning_naming_each_and_others_load(root, caplog):
    for name, source in BROKEN.items():
        write(root, f"broken/{name}", source)
    with caplog.at_level(logging.WARNING, logger="mod_ws.dispatch"):
        dispatcher = Dispatcher(str(root))
    assert dispatcher.resources() == ["/a", "/sub/b", "/sub/deeper/c"]
    warnings = dispatcher.source_warnings()
    assert len(warnings) == len(BROKEN)
    for name in BROKEN:
        matching = [w for w in warnings if str(root / "broken" / name) in w]
        assert len(matching) == 1, (name, warnings)
    assert any("SyntaxError" in w for w in warnings)
    assert any("boom at import" in w for w in warnings)
    assert any("SystemExit" in w for w in warnings)
    assert any("web_socket_transfer_data is not defined" in w for w in warnings)
    assert any("web_socket_transfer_data is not a function" in w for w in warnings)
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == len(BROKEN)


def test_source_warnings_returns_a_copy_callers_cannot_alter(root):
    write(root, "bad_wsh.py", "raise ValueError\n")
    dispatcher = Dispatcher(str(root))
    dispatcher.source_warnings().clear()
    assert len(dispatcher.source_warnings()) == 1


def test_scan_dir_restricts_loading_but_names_stay_relative_to_root(root):
    dispatcher = Dispatcher(str(root), scan_dir=str(root / "sub"))
    assert dispatcher.resources() == ["/sub/b", "/sub/deeper/c"]
    assert Dispatcher(str(root), scan_dir=str(root / "sub" / "deeper")).resources() == ["/sub/deeper/c"]


@pytest.mark.parametrize("spelling", ["relative-root-absolute-scan", "absolute-root-relative-scan",
                                      "scan-through-symlink", "scan-with-dot-dot"])
def test_scan_dir_spelled_differently_from_root_still_names_resources_from_root(
    root, spelling, monkeypatch
):
    monkeypatch.chdir(root.parent)
    (root.parent / "link").symlink_to(root, target_is_directory=True)
    root_dir, scan_dir = {
        "relative-root-absolute-scan": ("handlers", str(root / "sub")),
        "absolute-root-relative-scan": (str(root), "handlers/sub"),
        "scan-through-symlink": (str(root), str(root.parent / "link" / "sub")),
        "scan-with-dot-dot": (str(root), str(root / ".." / "handlers" / "sub")),
    }[spelling]
    assert Dispatcher(root_dir, scan_dir=scan_dir).resources() == ["/sub/b", "/sub/deeper/c"]


def test_scan_dir_outside_root_is_a_dispatch_exception(root, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    write_good(elsewhere, "x_wsh.py")
    with pytest.raises(DispatchException):
        Dispatcher(str(root), scan_dir=str(elsewhere))


def test_scan_dir_that_is_a_sibling_with_root_as_name_prefix_is_outside(root):
    sibling = root.parent / (root.name + "2")
    write_good(sibling, "x_wsh.py")
    with pytest.raises(DispatchException):
        Dispatcher(str(root), scan_dir=str(sibling))


def test_missing_scan_dir_is_a_dispatch_exception(root):
    with pytest.raises(DispatchException):
        Dispatcher(str(root), scan_dir=str(root / "nope"))


def test_missing_root_is_a_dispatch_exception(tmp_path):
    with pytest.raises(DispatchException):
        Dispatcher(str(tmp_path / "nope"))
    (tmp_path / "file").write_text("")
    with pytest.raises(DispatchException):
        Dispatcher(str(tmp_path / "file"))


def test_symlinked_handler_pointing_outside_root_is_skipped_when_not_allowed(root, tmp_path):
    outside = write_good(tmp_path / "outside", "out_wsh.py")
    (root / "linked_wsh.py").symlink_to(outside)
    dispatcher = Dispatcher(str(root), allow_handlers_outside_root_dir=False)
    assert "/linked" not in dispatcher.resources()
    assert "/a" in dispatcher.resources()
    assert len(dispatcher.source_warnings()) == 1
    assert str(root / "linked_wsh.py") in dispatcher.source_warnings()[0]


def test_symlinked_handler_pointing_outside_root_loads_when_allowed(root, tmp_path):
    outside = write_good(tmp_path / "outside", "out_wsh.py")
    (root / "linked_wsh.py").symlink_to(outside)
    dispatcher = Dispatcher(str(root), allow_handlers_outside_root_dir=True)
    assert "/linked" in dispatcher.resources()
    request = make_request("/linked")
    dispatcher.do_extra_handshake(request)
    assert request.seen_by == "out_wsh.py"


def test_symlinked_handler_pointing_inside_root_loads_even_when_outside_not_allowed(root):
    (root / "alias_wsh.py").symlink_to(root / "a_wsh.py")
    dispatcher = Dispatcher(str(root), allow_handlers_outside_root_dir=False)
    assert "/alias" in dispatcher.resources()
    assert dispatcher.source_warnings() == []


def test_symlinked_directory_outside_root_followed_only_when_allowed(root, tmp_path):
    write_good(tmp_path / "outside", "o_wsh.py")
    (root / "ext").symlink_to(tmp_path / "outside", target_is_directory=True)
    assert "/ext/o" not in Dispatcher(str(root), allow_handlers_outside_root_dir=False).resources()
    assert "/ext/o" in Dispatcher(str(root), allow_handlers_outside_root_dir=True).resources()


def test_directory_symlink_cycle_is_not_re_entered(root):
    (root / "loop").symlink_to(".", target_is_directory=True)
    resources = Dispatcher(str(root), allow_handlers_outside_root_dir=True).resources()
    assert "/loop/loop/a" not in resources
    assert len(resources) <= 2 * 3  # each of the 3 handlers at most at its own path and via loop/


def test_directory_symlink_cycle_is_not_followed_when_outside_not_allowed(root):
    (root / "loop").symlink_to(".", target_is_directory=True)
    (root / "loop2").symlink_to(".", target_is_directory=True)
    assert Dispatcher(str(root), allow_handlers_outside_root_dir=False).resources() == [
        "/a", "/sub/b", "/sub/deeper/c",
    ]


def test_handler_named_only_suffix_serves_its_directory(tmp_path):
    """`<root>/_wsh.py` serves `/` and `<root>/sub/_wsh.py` serves `/sub/` by the same rule."""
    write_good(tmp_path, "_wsh.py")
    write_good(tmp_path, "sub/_wsh.py")
    assert Dispatcher(str(tmp_path)).resources() == ["/", "/sub/"]


# --- handler_encoding ----------------------------------------------------------------

LATIN1_HANDLER = """
def web_socket_do_extra_handshake(request):
    request.greeting = "café ½"

def web_socket_transfer_data(request):
    pass
"""


def test_handler_encoding_latin1_loads_non_ascii_literal(tmp_path):
    write(tmp_path, "latin_wsh.py", LATIN1_HANDLER, encoding="latin-1")
    dispatcher = Dispatcher(str(tmp_path), handler_encoding="latin-1")
    assert dispatcher.source_warnings() == []
    request = make_request("/latin")
    dispatcher.do_extra_handshake(request)
    assert request.greeting == "café ½"


def test_latin1_handler_read_as_utf8_is_skipped(tmp_path):
    write(tmp_path, "latin_wsh.py", LATIN1_HANDLER, encoding="latin-1")
    dispatcher = Dispatcher(str(tmp_path), handler_encoding="utf-8")
    assert dispatcher.resources() == []
    assert "latin_wsh.py" in dispatcher.source_warnings()[0]


# --- passive closing handshake ------------------------------------------------------


@pytest.mark.parametrize(
    "code, reason, expected",
    [(1000, "bye", (1000, "bye")), (4001, "", (4001, "")), (1001, None, (1001, "")),
     (1005, "", (None, "")), (None, "", (None, ""))],
    ids=["1000-bye", "4001", "reason-none", "1005-means-no-code", "no-close-code"],
)
def test_default_passive_closing_handshake_echoes_code_and_reason(root, code, reason, expected):
    """RFC 6455 5.5.1: the endpoint typically echoes the status code it received."""
    dispatcher = Dispatcher(str(root))
    request = make_request("/a", ws_close_code=code, ws_close_reason=reason)
    assert dispatcher.passive_closing_handshake(request) == expected
    assert dispatcher.passive_closing_handshake(make_request("/unknown", ws_close_code=code,
                                                             ws_close_reason=reason)) == expected


def test_handler_defined_passive_closing_handshake_is_used(tmp_path):
    write(tmp_path, "p_wsh.py", GOOD.format(name="p") + textwrap.dedent("""
        def web_socket_passive_closing_handshake(request):
            return 4000, "custom " + str(request.ws_close_code)
    """))
    dispatcher = Dispatcher(str(tmp_path))
    request = make_request("/p", ws_close_code=1001, ws_close_reason="")
    assert dispatcher.passive_closing_handshake(request) == (4000, "custom 1001")


def test_handler_passive_closing_handshake_returning_none_reason_gives_empty_reason(tmp_path):
    write(tmp_path, "p_wsh.py", GOOD.format(name="p") + textwrap.dedent("""
        def web_socket_passive_closing_handshake(request):
            return 1000, None
    """))
    request = make_request("/p", ws_close_code=1001, ws_close_reason="")
    assert Dispatcher(str(tmp_path)).passive_closing_handshake(request) == (1000, "")


def test_handler_passive_closing_handshake_raising_answers_1011(tmp_path, caplog):
    write(tmp_path, "p_wsh.py", GOOD.format(name="p") + textwrap.dedent("""
        def web_socket_passive_closing_handshake(request):
            raise KeyError("oops")
    """))
    request = make_request("/p", ws_close_code=1000, ws_close_reason="")
    with caplog.at_level(logging.ERROR, logger="mod_ws.dispatch"):
        assert Dispatcher(str(tmp_path)).passive_closing_handshake(request) == (1011, "")
    assert any(r.levelno == logging.ERROR for r in caplog.records)


# --- load_handler_map ----------------------------------------------------------------


def test_handler_map_adds_aliases_and_skips_comments_and_bad_lines(root, tmp_path, caplog):
    map_file = tmp_path / "map.txt"
    map_file.write_text(
        "# a comment line\n"
        "/alias /a   # a trailing comment\n"
        "\n"
        "   \t\n"
        "/x /a /sub/b\n"
        "/ghost /nonexistent\n"
        "/lonely\n"
        "\t/alias2\t/sub/b\t\n"
        "  # indented comment /nope /a\n",
        encoding="utf-8",
    )
    dispatcher = Dispatcher(str(root))
    with caplog.at_level(logging.WARNING, logger="mod_ws.dispatch"):
        load_handler_map(dispatcher, str(map_file))
    assert dispatcher.get_handler_suite("/alias") is dispatcher.get_handler_suite("/a")
    assert dispatcher.get_handler_suite("/alias2?q") is dispatcher.get_handler_suite("/sub/b")
    for absent in ["/x", "/ghost", "/lonely", "/nope", "#"]:
        assert dispatcher.get_handler_suite(absent) is None
    assert dispatcher.resources() == ["/a", "/alias", "/alias2", "/sub/b", "/sub/deeper/c"]
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(messages) == 3
    assert "line 5" in messages[0]
    assert "line 6" in messages[1] and "/nonexistent" in messages[1]
    assert "line 7" in messages[2]


def test_alias_of_alias_serves_the_same_handler(root, tmp_path):
    map_file = tmp_path / "map.txt"
    map_file.write_text("/one /a\n/two /one\n", encoding="utf-8")
    dispatcher = Dispatcher(str(root))
    load_handler_map(dispatcher, str(map_file))
    assert dispatcher.get_handler_suite("/two") is dispatcher.get_handler_suite("/a")


def test_unreadable_handler_map_is_a_dispatch_exception(root, tmp_path):
    dispatcher = Dispatcher(str(root))
    with pytest.raises(DispatchException):
        load_handler_map(dispatcher, str(tmp_path / "missing.map"))
    with pytest.raises(DispatchException):
        load_handler_map(dispatcher, str(tmp_path))  # a directory
    binary = tmp_path / "binary.map"
    binary.write_bytes(b"/alias /a \xff\xfe\n")
    with pytest.raises(DispatchException):
        load_handler_map(dispatcher, str(binary))


def test_add_resource_path_alias_to_unknown_resource_raises(root):
    with pytest.raises(DispatchException):
        Dispatcher(str(root)).add_resource_path_alias("/x", "/missing")


# --- do_extra_handshake --------------------------------------------------------------


def handshake_handler(tmp_path: Path, body: str) -> Dispatcher:
    write(tmp_path, "h_wsh.py", "from mod_ws.exceptions import *\n"
          "def web_socket_do_extra_handshake(request):\n"
          f"    {body}\n"
          "def web_socket_transfer_data(request):\n"
          "    pass\n")
    return Dispatcher(str(tmp_path))


def test_do_extra_handshake_passes_the_request_to_the_handler(root):
    request = make_request("/sub/b?x=1")
    Dispatcher(str(root)).do_extra_handshake(request)
    assert request.seen_by == "sub/b_wsh.py"


def test_handler_raising_value_error_refuses_handshake_with_403(tmp_path):
    dispatcher = handshake_handler(tmp_path, "raise ValueError('not you')")
    with pytest.raises(HandshakeException) as info:
        dispatcher.do_extra_handshake(make_request("/h"))
    assert info.value.status == 403
    assert isinstance(info.value.__cause__, ValueError)
    assert "not you" in str(info.value)


def test_handler_raising_handshake_exception_keeps_its_status(tmp_path):
    dispatcher = handshake_handler(tmp_path, "raise HandshakeException('x', 418)")
    with pytest.raises(HandshakeException) as info:
        dispatcher.do_extra_handshake(make_request("/h"))
    assert info.value.status == 418


def test_handler_raising_aborted_by_user_passes_through(tmp_path):
    dispatcher = handshake_handler(tmp_path, "raise AbortedByUserException('drop')")
    with pytest.raises(AbortedByUserException):
        dispatcher.do_extra_handshake(make_request("/h"))


def test_do_extra_handshake_for_unknown_resource_is_404(root):
    with pytest.raises(DispatchException) as info:
        Dispatcher(str(root)).do_extra_handshake(make_request("/missing"))
    assert info.value.status == 404


# --- transfer_data -------------------------------------------------------------------


class RecordingStream:
    """Stands in for the connection's stream: records how the dispatcher closes it."""

    def __init__(self, fail_close: bool = False) -> None:
        self.closes: list[tuple] = []
        self.fail_close = fail_close

    def close_connection(self, *args) -> None:
        self.closes.append(args)
        if self.fail_close:
            raise ConnectionTerminatedException("peer gone")


def transfer_handler(tmp_path: Path, body: str) -> Dispatcher:
    write(tmp_path, "t_wsh.py", "from mod_ws.exceptions import *\n"
          "def web_socket_do_extra_handshake(request):\n"
          "    pass\n"
          "def web_socket_transfer_data(request):\n"
          f"    {body}\n")
    return Dispatcher(str(tmp_path))


@pytest.mark.parametrize(
    "body, server_terminated, expected_closes",
    [
        ("pass", False, [()]),
        ("pass", True, []),
        ("raise RuntimeError('bug')", False, [(1011, "RuntimeError: bug")]),
        ("raise ConnectionTerminatedException('gone')", False, []),
        ("raise AbortedByUserException('drop')", False, []),
    ],
    ids=["returns", "returns-after-closing", "raises", "connection-ended", "aborted"],
)
def test_transfer_data_closes_stream_according_to_how_the_handler_ended(
    tmp_path, body, server_terminated, expected_closes
):
    """RFC 6455 7.4.1: 1000 when done (the stream's default), 1011 on an unexpected error."""
    dispatcher = transfer_handler(tmp_path, body)
    stream = RecordingStream()
    dispatcher.transfer_data(make_request("/t", ws_stream=stream, server_terminated=server_terminated))
    assert stream.closes == expected_closes


@pytest.mark.parametrize("body", ["pass", "raise RuntimeError('bug')"])
def test_transfer_data_swallows_connection_loss_while_closing(tmp_path, body):
    dispatcher = transfer_handler(tmp_path, body)
    stream = RecordingStream(fail_close=True)
    dispatcher.transfer_data(make_request("/t", ws_stream=stream, server_terminated=False))
    assert len(stream.closes) == 1


def test_handler_modules_do_not_leak_into_each_other(tmp_path):
    write(tmp_path, "one_wsh.py", "X = 1\n" + GOOD.format(name="one"))
    write(tmp_path, "two_wsh.py", "def web_socket_do_extra_handshake(request):\n"
          "    request.saw_x = 'X' in globals()\n"
          "def web_socket_transfer_data(request):\n    pass\n")
    dispatcher = Dispatcher(str(tmp_path))
    request = make_request("/two")
    dispatcher.do_extra_handshake(request)
    assert request.saw_x is False
    assert os.path.basename(dispatcher.get_handler_suite("/one").path) == "one_wsh.py"


def test_an_alias_without_a_leading_slash_is_refused_as_it_could_never_match(root, tmp_path, caplog):
    map_file = tmp_path / "map.txt"
    map_file.write_text("noslash /a\n/good /a\n", encoding="utf-8")
    dispatcher = Dispatcher(str(root))
    with caplog.at_level(logging.WARNING, logger="mod_ws.dispatch"):
        load_handler_map(dispatcher, str(map_file))
    assert "noslash" not in dispatcher.resources() and "/good" in dispatcher.resources()
    (message,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "line 1" in message and "'noslash' does not start with '/'" in message


def test_handler_files_lists_each_resource_with_its_file_and_load_result(tmp_path):
    (tmp_path / "ok_wsh.py").write_text("def web_socket_do_extra_handshake(r): pass\n"
                                        "def web_socket_transfer_data(r): pass\n", encoding="utf-8")
    (tmp_path / "bad_wsh.py").write_text("1/0\n", encoding="utf-8")
    dispatcher = Dispatcher(str(tmp_path))
    dispatcher.add_resource_path_alias("/also", "/ok")
    listed = {entry["resource"]: entry for entry in dispatcher.handler_files()}
    assert listed["/ok"] == {"resource": "/ok", "file": "ok_wsh.py", "status": "loaded", "error": None}
    assert listed["/also"]["file"] == "alias of /ok"
    assert listed["/bad"]["status"] == "failed" and "ZeroDivisionError" in listed["/bad"]["error"]
