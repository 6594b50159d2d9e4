"""Tests of the mod_ws command line and config file (mod_ws.options)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from mod_ws.options import build_parser, parse_options


@pytest.fixture(autouse=True)
def in_tmp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run each test in an empty directory so relative config names stay short."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write_config(name: str, text: str) -> str:
    Path(name).write_text(text, encoding="utf-8")
    return name


def error_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """Parse argv expecting failure; return the single stderr line."""
    with pytest.raises(SystemExit) as exit_info:
        parse_options(argv)
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("mod_ws: error: ")
    return lines[0]


# --- defaults and spellings ------------------------------------------------------

EXPECTED_DEFAULTS = {
    "config_file": None,
    "server_host": "",
    "validation_host": None,
    "port": 80,
    "validation_port": None,
    "websock_handlers": None,
    "websock_handlers_map_file": None,
    "scan_dir": None,
    "allow_handlers_outside_root_dir": False,
    "allow_symlinks_outside_document_root": False,
    "send_timeout": 30.0,
    "document_root": ".",
    "cgi_paths": None,
    "cgi_timeout": 30.0,
    "use_tls": False,
    "private_key": None,
    "certificate": None,
    "tls_client_auth": False,
    "tls_client_cert_optional": False,
    "tls_client_ca": None,
    "http2": False,
    "http3_port": None,
    "tls_module": "pyopenssl",
    "use_basic_auth": False,
    "basic_auth_credential": "test:test",
    "log_file": None,
    "log_level": "warn",
    "deflate_log_level": "warn",
    "thread_monitor_interval_in_sec": -1,
    "status_page": None,
    "reload": False,
    "log_max": 256 * 1024,
    "log_count": 5,
    "request_queue_size": 128,
    "handler_encoding": None,
    "pywebsocket_imports": True,
    "error_details": True,
    "log_frames": False,
    "log_format": "text",
    "max_frame_size": None,
    "auto_fragment_size": None,
    "max_connections": None,
    "handshake_timeout": 10.0,
    "ping_interval": None,
    "ping_timeout": 20.0,
    "request_timeout": 10.0,
    "max_request_header_size": 16384,
    "close_timeout": 5.0,
    "max_message_size": 64 * 1024 * 1024,
    "shutdown_timeout": 5.0,
    "latency": 0.0,
    "latency_jitter": 0.0,
    "bandwidth": None,
}


def test_no_arguments_gives_every_documented_default() -> None:
    assert vars(parse_options([])) == EXPECTED_DEFAULTS


def test_build_parser_returns_a_configargparse_parser_named_mod_ws() -> None:
    import configargparse

    parser = build_parser()
    assert isinstance(parser, configargparse.ArgumentParser)
    assert parser.prog == "mod_ws"


# (dash spelling, underscore spelling, short form or None, value, dest, parsed value)
VALUED_OPTIONS = [
    ("--server-host", "--server_host", "-H", "localhost", "server_host", "localhost"),
    ("--validation-host", "--validation_host", "-V", "example.com", "validation_host", "example.com"),
    ("--port", None, "-p", "8080", "port", 8080),
    ("--validation-port", "--validation_port", "-P", "443", "validation_port", 443),
    ("--websock-handlers", "--websock_handlers", "-w", "handlers", "websock_handlers", "handlers"),
    ("--websock-handlers-map-file", "--websock_handlers_map_file", "-m", "map.txt",
     "websock_handlers_map_file", "map.txt"),
    ("--scan-dir", "--scan_dir", "-s", "sub", "scan_dir", "sub"),
    ("--document-root", "--document_root", "-d", ".", "document_root", "."),
    ("--basic-auth-credential", "--basic_auth_credential", None, "a:b", "basic_auth_credential", "a:b"),
    ("--log-file", "--log_file", "-l", "x.log", "log_file", "x.log"),
    ("--log-level", "--log_level", None, "fine", "log_level", "fine"),
    ("--deflate-log-level", "--deflate_log_level", None, "debug", "deflate_log_level", "debug"),
    ("--thread-monitor-interval-in-sec", "--thread_monitor_interval_in_sec", None, "3",
     "thread_monitor_interval_in_sec", 3),
    ("--log-max", "--log_max", None, "1000", "log_max", 1000),
    ("--log-count", "--log_count", None, "0", "log_count", 0),
    ("--queue", None, "-q", "7", "request_queue_size", 7),
    ("--handler-encoding", "--handler_encoding", None, "latin-1", "handler_encoding", "latin-1"),
    ("--request-timeout", "--request_timeout", None, "0.5", "request_timeout", 0.5),
    ("--max-request-header-size", "--max_request_header_size", None, "1024",
     "max_request_header_size", 1024),
    ("--close-timeout", "--close_timeout", None, "0", "close_timeout", 0.0),
    ("--max-message-size", "--max_message_size", None, "1", "max_message_size", 1),
    ("--shutdown-timeout", "--shutdown_timeout", None, "2.5", "shutdown_timeout", 2.5),
    ("--handshake-timeout", "--handshake_timeout", None, "3", "handshake_timeout", 3.0),
    ("--max-frame-size", "--max_frame_size", None, "4096", "max_frame_size", 4096),
    ("--auto-fragment-size", "--auto_fragment_size", None, "100", "auto_fragment_size", 100),
    ("--max-connections", "--max_connections", None, "50", "max_connections", 50),
    ("--ping-interval", "--ping_interval", None, "0.5", "ping_interval", 0.5),
    ("--ping-timeout", "--ping_timeout", None, "2", "ping_timeout", 2.0),
    ("--log-format", "--log_format", None, "json", "log_format", "json"),
    ("--latency", None, None, "200", "latency", 200.0),
    ("--latency-jitter", "--latency_jitter", None, "20.5", "latency_jitter", 20.5),
    ("--bandwidth", None, None, "100000", "bandwidth", 100000),
]


@pytest.mark.parametrize(("dash", "underscore", "short", "text", "dest", "expected"), VALUED_OPTIONS)
def test_every_spelling_of_an_option_sets_the_same_dest(
    dash: str, underscore: str | None, short: str | None, text: str, dest: str, expected: object
) -> None:
    for spelling in filter(None, (dash, underscore, short)):
        assert getattr(parse_options([spelling, text]), dest) == expected, spelling
    assert getattr(parse_options([f"{dash}={text}"]), dest) == expected


def test_allow_handlers_outside_root_dir_flag_works_in_both_spellings() -> None:
    assert parse_options(["--allow-handlers-outside-root-dir"]).allow_handlers_outside_root_dir
    assert parse_options(["--allow_handlers_outside_root_dir"]).allow_handlers_outside_root_dir


def test_port_zero_is_accepted_so_the_os_can_pick_a_free_port() -> None:
    assert parse_options(["-p", "0"]).port == 0


def test_help_shows_one_spelling_per_option_with_its_default_and_exits_zero(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parse_options(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    parser = build_parser()
    for action in parser._actions:
        for option in action.option_strings:
            if option.startswith("--") and "_" in option:
                assert f"{option} " not in text and f"{option}\n" not in text, option
            else:
                assert option in text, option
        assert action.help, action.dest
    assert "--log-level" in text and "--log_level" not in text
    assert "-d, --document-root DOCUMENT_ROOT" in text
    # Every option with a default value names it.
    flat = " ".join(text.split())
    assert "--log-count LOG_COUNT rotated log files kept (default: 5)" in flat
    assert "largest request line plus headers, in bytes (default: 16384)" in flat


def test_underscore_spellings_left_out_of_help_are_still_accepted() -> None:
    options = parse_options(["--document_root", ".", "--log_level", "info", "--no_status_page"])
    assert (options.document_root, options.log_level, options.status_page) == (".", "info", False)


def test_status_page_is_automatic_unless_turned_on_or_off() -> None:
    assert parse_options([]).status_page is None
    assert parse_options(["--status-page"]).status_page is True
    assert parse_options(["--no-status-page"]).status_page is False
    on = write_config("status_on.conf", "status-page = true\n")
    off = write_config("status_off.conf", "no_status_page = yes\n")
    assert parse_options(["--config", on]).status_page is True
    assert parse_options(["--config", off]).status_page is False


# --- command line errors ---------------------------------------------------------


def test_positional_argument_is_rejected_by_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert error_line(capsys, ["foo"]) == "mod_ws: error: unexpected argument 'foo'"


def test_unknown_option_is_rejected_by_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert error_line(capsys, ["--bogus", "1"]) == "mod_ws: error: unrecognized option '--bogus'"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-p", "65536"], "--port: 65536 is out of range (must be 0..65535)"),
        (["-p", "-1"], "--port: -1 is out of range (must be 0..65535)"),
        (["-p", "abc"], "--port: invalid int value: 'abc'"),
        (["-P", "0"], "--validation-port: 0 is out of range (must be 1..65535)"),
        (["--log-max", "0"], "--log-max: 0 is out of range (must be >= 1)"),
        (["--log-count", "-1"], "--log-count: -1 is out of range (must be 0..1000)"),
        (["--log-count", "99999999999999999999"],
         "--log-count: 99999999999999999999 is out of range (must be 0..1000)"),
        (["-q", "0"], "--queue: 0 is out of range (must be 1..65535)"),
        (["--request-timeout", "0"],
         "--request-timeout: 0 is out of range (must be > 0 and <= 1e+06)"),
        (["-q", "99999999999999999999"],
         "--queue: 99999999999999999999 is out of range (must be 1..65535)"),
        (["--thread-monitor-interval-in-sec", "99999999999999999999"],
         "--thread-monitor-interval-in-sec: 99999999999999999999 is out of range "
         "(must be <= 1000000)"),
        (["--request-timeout", "1e30"],
         "--request-timeout: 1e30 is out of range (must be > 0 and <= 1e+06)"),
        (["--send-timeout", "2000000"],
         "--send-timeout: 2000000 is out of range (must be > 0 and <= 1e+06)"),
        (["--request-timeout", "nan"], "--request-timeout: invalid float value: 'nan'"),
        (["--close-timeout", "-0.1"],
         "--close-timeout: -0.1 is out of range (must be >= 0 and <= 1e+06)"),
        (["--shutdown-timeout", "x"], "--shutdown-timeout: invalid float value: 'x'"),
        (["--max-request-header-size", "1023"],
         "--max-request-header-size: 1023 is out of range (must be >= 1024)"),
        (["--max-message-size", "0"], "--max-message-size: 0 is out of range (must be >= 1)"),
        (["--max-frame-size", "0"], "--max-frame-size: 0 is out of range (must be >= 1)"),
        (["--auto-fragment-size", "-5"], "--auto-fragment-size: -5 is out of range (must be >= 1)"),
        (["--max-connections", "many"], "--max-connections: invalid int value: 'many'"),
        (["--handshake-timeout", "0"],
         "--handshake-timeout: 0 is out of range (must be > 0 and <= 1e+06)"),
        (["--ping-interval", "-1"], "--ping-interval: -1 is out of range (must be > 0 and <= 1e+06)"),
        (["--ping-timeout", "inf"], "--ping-timeout: invalid float value: 'inf'"),
        (["--log-format", "xml"], "--log-format: invalid choice: 'xml' (choose from 'text', 'json')"),
        (["--handler-encoding", "no-such-codec"], "--handler-encoding: unknown encoding 'no-such-codec'"),
        (["--thread-monitor-interval-in-sec", "1.5"], "--thread-monitor-interval-in-sec: invalid int value: '1.5'"),
        (["--latency", "-1"], "--latency: -1 is out of range (must be >= 0 and <= 1e+06)"),
        (["--latency-jitter", "nan"], "--latency-jitter: invalid float value: 'nan'"),
        (["--bandwidth", "0"], "--bandwidth: 0 is out of range (must be >= 1)"),
        (["--bandwidth", "1.5"], "--bandwidth: invalid int value: '1.5'"),
    ],
)
def test_out_of_range_or_malformed_numbers_fail_with_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert error_line(capsys, argv) == f"mod_ws: error: {message}"


def test_unknown_log_level_is_rejected(capsys: pytest.CaptureFixture[str]) -> None:
    line = error_line(capsys, ["--log-level", "loud"])
    assert line.startswith("mod_ws: error: --log-level: invalid choice: 'loud'")


def test_deflate_log_level_does_not_accept_fine(capsys: pytest.CaptureFixture[str]) -> None:
    assert "invalid choice: 'fine'" in error_line(capsys, ["--deflate-log-level", "fine"])


def test_missing_option_value_fails_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert error_line(capsys, ["--port"]) == "mod_ws: error: --port: expected one argument"


def test_document_root_must_be_an_existing_directory(capsys: pytest.CaptureFixture[str]) -> None:
    Path("a_file").write_text("")
    assert error_line(capsys, ["-d", "missing"]) == "mod_ws: error: --document-root 'missing' is not a directory"
    assert error_line(capsys, ["-d", "a_file"]) == "mod_ws: error: --document-root 'a_file' is not a directory"


def test_handler_paths_are_not_checked_for_existence_here() -> None:
    options = parse_options(["-w", "nowhere", "-s", "nowhere/sub", "-m", "no_map.txt"])
    assert (options.websock_handlers, options.scan_dir) == ("nowhere", "nowhere/sub")


def test_cgi_options_parse_and_a_bad_timeout_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    options = parse_options(["-x", "/cgi-bin,/htbin", "--cgi-timeout", "2.5"])
    assert (options.cgi_paths, options.cgi_timeout) == ("/cgi-bin,/htbin", 2.5)
    assert error_line(capsys, ["--cgi-timeout", "0"]).startswith("mod_ws: error: --cgi-timeout: 0 is out of range")


def test_basic_auth_credential_without_a_colon_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert error_line(capsys, ["--basic-auth", "--basic-auth-credential", "nocolon"]) == (
        "mod_ws: error: --basic-auth-credential 'nocolon': expected user:password")


def test_basic_auth_credential_alone_is_accepted() -> None:
    assert parse_options(["--basic-auth-credential", "u:p"]).basic_auth_credential == "u:p"


# --- config file -----------------------------------------------------------------


def test_config_file_sets_options_in_either_spelling_and_separator() -> None:
    name = write_config(
        "config.ini",
        "# a comment\n"
        "; another comment\n"
        "\n"
        "log_level = debug\n"
        "deflate-log-level=info\n"
        "port: 8880\n"
        "  server_host = 127.0.0.1  \n",
    )
    options = parse_options(["--config", name])
    assert options.config_file == name
    assert (options.log_level, options.deflate_log_level) == ("debug", "info")
    assert (options.port, options.server_host) == (8880, "127.0.0.1")


def test_pywebsocket_section_file_is_accepted() -> None:
    name = write_config("legacy.conf", "[pywebsocket]\nport=9999\nlog_level=info\n")
    options = parse_options(["--config", name])
    assert (options.port, options.log_level) == (9999, "info")


def test_mod_ws_section_header_is_accepted() -> None:
    name = write_config("m.conf", "[mod_ws]\nmax_message_size = 4096\n")
    assert parse_options(["--config", name]).max_message_size == 4096


def test_command_line_overrides_the_config_file() -> None:
    name = write_config("config.ini", "port = 1111\nlog-level = debug\nclose_timeout = 1\n")
    options = parse_options(["--config", name, "-p", "2222", "--log_level=error"])
    assert (options.port, options.log_level) == (2222, "error")
    assert options.close_timeout == 1.0  # not given on the command line, so the file's


def test_command_line_before_config_option_still_overrides_the_file() -> None:
    name = write_config("config.ini", "port = 1111\n")
    assert parse_options(["-p", "2222", "--config", name]).port == 2222


@pytest.mark.parametrize("word", ["true", "TRUE", "yes", "On", "1"])
def test_flag_in_config_file_set_by_true_words(word: str) -> None:
    name = write_config("config.ini", f"allow_handlers_outside_root_dir = {word}\n")
    assert parse_options(["--config", name]).allow_handlers_outside_root_dir is True


@pytest.mark.parametrize("word", ["false", "False", "no", "OFF", "0"])
def test_flag_in_config_file_left_unset_by_false_words(word: str) -> None:
    name = write_config("config.ini", f"allow-handlers-outside-root-dir = {word}\n")
    assert parse_options(["--config", name]).allow_handlers_outside_root_dir is False


def test_flags_false_in_config_file_leave_their_features_off() -> None:
    name = write_config("config.ini", "tls = false\nbasic_auth = no\n")
    options = parse_options(["--config", name])
    assert options.use_tls is False and options.use_basic_auth is False


def test_cgi_options_in_a_config_file() -> None:
    name = write_config("config.ini", "[pywebsocket]\ncgi_paths = /\ncgi_timeout = 3\n")
    options = parse_options(["--config", name])
    assert (options.cgi_paths, options.cgi_timeout) == ("/", 3.0)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--tls"], "--tls needs --private-key"),
        (["-t", "-k", "key.pem"], "--tls needs --certificate"),
        (["-k", "key.pem"], "--private-key needs --tls"),
        (["-c", "cert.pem"], "--certificate needs --tls"),
        (["--tls-client-auth"], "--tls-client-auth needs --tls"),
        (["--tls-client-ca", "ca.pem"], "--tls-client-ca needs --tls"),
        (["-t", "-k", "k", "-c", "c", "--tls-client-auth"],
         "--tls-client-auth needs --tls-client-ca (the CA that client certificates must chain to)"),
        (["-t", "-k", "k", "-c", "c", "--tls_client_cert_optional"],
         "--tls-client-cert-optional needs --tls-client-auth"),
        (["-t", "-k", "k", "-c", "c", "--tls-client-ca", "ca.pem"],
         "--tls-client-ca needs --tls-client-auth"),
        (["-t", "-k", "k", "-c", "c", "--tls-module", "gnutls"],
         "--tls-module: invalid choice: 'gnutls' (choose from 'pyopenssl', 'ssl')"),
    ],
)
def test_tls_options_that_do_not_fit_together_are_refused(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert error_line(capsys, argv) == f"mod_ws: error: {message}"


def test_tls_options_parse_from_the_command_line_and_a_config_file() -> None:
    argv = ["-t", "-k", "k.pem", "-c", "c.pem", "--tls-client-auth", "--tls-client-ca", "ca.pem",
            "--tls-client-cert-optional", "--tls-module", "ssl"]
    options = parse_options(argv)
    assert (options.use_tls, options.private_key, options.certificate, options.tls_client_auth,
            options.tls_client_ca, options.tls_client_cert_optional, options.tls_module) == (
        True, "k.pem", "c.pem", True, "ca.pem", True, "ssl")
    name = write_config("config.ini", "[pywebsocket]\ntls = true\nprivate_key = k.pem\n"
                        "certificate = c.pem\ntls_module = ssl\n")
    options = parse_options(["--config", name])
    assert (options.use_tls, options.private_key, options.certificate, options.tls_module) == (
        True, "k.pem", "c.pem", "ssl")


def test_bad_flag_word_names_the_line(capsys: pytest.CaptureFixture[str]) -> None:
    name = write_config("config.ini", "\nallow_handlers_outside_root_dir = maybe\n")
    line = error_line(capsys, ["--config", name])
    assert line.startswith(
        "mod_ws: error: config.ini line 2: --allow-handlers-outside-root-dir: invalid flag value 'maybe'"
    )


def test_unknown_config_key_names_file_and_line(capsys: pytest.CaptureFixture[str]) -> None:
    name = write_config("config.ini", "# header\nport = 8000\nbogus = 1\n")
    assert error_line(capsys, ["--config", name]) == "mod_ws: error: config.ini line 3: unknown option 'bogus'"


def test_bad_config_value_names_file_line_and_option(capsys: pytest.CaptureFixture[str]) -> None:
    name = write_config("config.ini", "[pywebsocket]\nlog_level = info\n\nport = abc\n")
    assert error_line(capsys, ["--config", name]) == (
        "mod_ws: error: config.ini line 4: --port: invalid int value: 'abc'"
    )


def test_out_of_range_config_value_names_the_line(capsys: pytest.CaptureFixture[str]) -> None:
    name = write_config("config.ini", "request_timeout = 0\n")
    assert error_line(capsys, ["--config", name]) == (
        "mod_ws: error: config.ini line 1: --request-timeout: 0 is out of range "
        "(must be > 0 and <= 1e+06)"
    )


def test_malformed_thread_monitor_interval_in_config_names_the_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    name = write_config("config.ini", "thread_monitor_interval_in_sec = soon\n")
    assert error_line(capsys, ["--config", name]) == (
        "mod_ws: error: config.ini line 1: --thread-monitor-interval-in-sec: invalid int value: 'soon'"
    )


def test_bad_config_choice_names_the_line(capsys: pytest.CaptureFixture[str]) -> None:
    name = write_config("config.ini", "log-level = loud\n")
    assert error_line(capsys, ["--config", name]).startswith(
        "mod_ws: error: config.ini line 1: --log-level: invalid choice: 'loud'"
    )


def test_bad_config_value_is_reported_even_when_the_command_line_overrides_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    name = write_config("config.ini", "port = abc\n")
    assert "config.ini line 1: --port" in error_line(capsys, ["--config", name, "-p", "80"])


def test_line_without_key_value_names_the_line(capsys: pytest.CaptureFixture[str]) -> None:
    name = write_config("config.ini", "port = 1\nport 2\n")
    assert error_line(capsys, ["--config", name]) == (
        "mod_ws: error: config.ini line 2: expected 'key = value', got 'port 2'"
    )


def test_unknown_section_names_the_line(capsys: pytest.CaptureFixture[str]) -> None:
    name = write_config("config.ini", "[other]\n")
    assert error_line(capsys, ["--config", name]).startswith(
        "mod_ws: error: config.ini line 1: unknown section '[other]'"
    )


def test_same_option_twice_in_config_names_both_lines(capsys: pytest.CaptureFixture[str]) -> None:
    name = write_config("config.ini", "log_level = info\nlog-level = debug\n")
    assert error_line(capsys, ["--config", name]) == (
        "mod_ws: error: config.ini line 2: --log-level is already set on line 1"
    )


def test_config_and_help_keys_cannot_be_set_from_a_config_file(capsys: pytest.CaptureFixture[str]) -> None:
    name = write_config("config.ini", "config = other.ini\n")
    assert error_line(capsys, ["--config", name]) == "mod_ws: error: config.ini line 1: unknown option 'config'"
    name = write_config("help.ini", "help = true\n")
    assert error_line(capsys, ["--config", name]) == "mod_ws: error: help.ini line 1: unknown option 'help'"
    name = write_config("version.ini", "version = true\n")
    assert error_line(capsys, ["--config", name]) == (
        "mod_ws: error: version.ini line 1: unknown option 'version'")


def test_version_prints_the_package_version_and_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    import mod_ws

    with pytest.raises(SystemExit) as exit_info:
        parse_options(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"mod_ws {mod_ws.__version__}\n"


def test_options_from_keywords_checks_values_as_the_command_line_does() -> None:
    from mod_ws.options import OptionError, options_from_keywords

    options = options_from_keywords(port=0, use_tls=False, close_timeout=2.5, log_level="debug")
    assert (options.port, options.close_timeout, options.log_level) == (0, 2.5, "debug")
    assert options_from_keywords(pywebsocket_imports=False).pywebsocket_imports is False
    assert options_from_keywords(pywebsocket_imports=True).pywebsocket_imports is True
    with pytest.raises(OptionError, match=r"^--port: 70000 is out of range"):
        options_from_keywords(port=70000)
    with pytest.raises(OptionError, match="unknown option 'no_such_thing'"):
        options_from_keywords(no_such_thing=1)
    with pytest.raises(OptionError, match="--tls: expected True or False"):
        options_from_keywords(use_tls="yes")
    with pytest.raises(OptionError, match="--tls needs --private-key"):
        options_from_keywords(use_tls=True)


def test_missing_config_file_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert error_line(capsys, ["--config", "x.ini"]) == (
        "mod_ws: error: cannot read config file 'x.ini': No such file or directory"
    )


def test_directory_as_config_file_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    Path("adir").mkdir()
    assert error_line(capsys, ["--config", "adir"]).startswith("mod_ws: error: cannot read config file 'adir': ")


def test_non_utf8_config_file_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    Path("latin.ini").write_bytes(b"server_host = caf\xe9\n")
    assert error_line(capsys, ["--config", "latin.ini"]).startswith(
        "mod_ws: error: cannot read config file 'latin.ini': not UTF-8 text"
    )


def test_config_document_root_is_validated(capsys: pytest.CaptureFixture[str]) -> None:
    name = write_config("config.ini", "document_root = gone\n")
    assert error_line(capsys, ["--config", name]) == "mod_ws: error: --document-root 'gone' is not a directory"


def test_config_file_values_keep_their_text_verbatim() -> None:
    name = write_config("config.ini", "basic_auth_credential = user:pa;ss#word\nserver_host =\n")
    options = parse_options(["--config", name])
    assert options.basic_auth_credential == "user:pa;ss#word"
    assert options.server_host == ""


def test_parse_options_returns_a_namespace() -> None:
    assert isinstance(parse_options([]), argparse.Namespace)


def test_the_new_limits_and_log_options_read_from_a_config_file(capsys: pytest.CaptureFixture[str]) -> None:
    name = write_config("limits.ini", "[mod_ws]\nlog_frames = true\nlog-format = json\n"
                        "ping_interval = 2\nmax_connections = 10\nno_error_details = yes\n"
                        "no_pywebsocket_imports = on\n")
    options = parse_options(["--config", name])
    assert (options.log_frames, options.log_format, options.ping_interval) == (True, "json", 2.0)
    assert (options.max_connections, options.error_details, options.pywebsocket_imports) == (10, False, False)
    name = write_config("bad.ini", "max_frame_size = huge\n")
    assert error_line(capsys, ["--config", name]) == (
        "mod_ws: error: bad.ini line 1: --max-frame-size: invalid int value: 'huge'")


def test_the_network_shaping_options_read_from_a_config_file(capsys: pytest.CaptureFixture[str]) -> None:
    name = write_config("shaping.ini", "[mod_ws]\nlatency = 200\nlatency-jitter = 20\n"
                        "bandwidth = 100000\n")
    options = parse_options(["--config", name])
    assert (options.latency, options.latency_jitter, options.bandwidth) == (200.0, 20.0, 100000)
    name = write_config("bad_shaping.ini", "\nlatency_jitter = -5\n")
    assert error_line(capsys, ["--config", name]) == (
        "mod_ws: error: bad_shaping.ini line 2: --latency-jitter: -5 is out of range "
        "(must be >= 0 and <= 1e+06)")
