"""The mod_ws command line and its optional config file.

Every pywebsocket3 standalone option is accepted under the same names (dash and
underscore spellings, same short forms, same ``dest``), so existing scripts and
``[pywebsocket]`` config files keep working. Every failure is reported as one line,
``mod_ws: error: <what is wrong>``, with exit status 2: whoever runs a test server
from a script wants the reason, not a usage dump or a traceback. Config file errors
name the file and line, because configargparse alone would report them as if they
had been typed on the command line.
"""

from __future__ import annotations

import argparse
import codecs
import importlib.metadata
import importlib.util
import io
import math
import re
import sys
from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import NoReturn

import configargparse

from mod_ws import __version__, defaults

PROG = "mod_ws"

LOG_LEVEL_CHOICES = ("fine", "debug", "info", "warning", "warn", "error", "critical")
LOG_FORMAT_CHOICES = ("text", "json")
DEFLATE_LOG_LEVEL_CHOICES = ("debug", "info", "warning", "warn", "error", "critical")

_TRUE_WORDS = frozenset({"true", "yes", "on", "1"})
_FALSE_WORDS = frozenset({"false", "no", "off", "0"})
_ACCEPTED_SECTIONS = frozenset({"pywebsocket", "mod_ws"})

_SECTION_RE = re.compile(r"^\[\s*(?P<name>[^\]]*?)\s*\]$")
_ARGPARSE_PREFIX_RE = re.compile(r"^argument (?P<names>-[^\s:]*): ")
_ENTRY_RE = re.compile(r"^(?P<key>[A-Za-z0-9][A-Za-z0-9_-]*)\s*[=:]\s*(?P<value>.*)$")


class OptionError(ValueError):
    """A bad option: on the command line a one-line error and exit status 2; raised
    as it is to a program that passes options as keywords (options_from_keywords)."""


class _LineError(Exception):
    """What is wrong with one config file line; the caller adds file and line number."""


# --- value types -----------------------------------------------------------------
# Range checks live in the `type` callables so that the command line and the config
# file reject a value with the same words.


def _int_in_range(low: int | None = None, high: int | None = None) -> Callable[[str], int]:
    """Return an argparse type accepting integers within [low, high]."""

    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
        if (low is not None and value < low) or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{value} is out of range ({_describe_range(low, high)})")
        return value

    return convert


# Seconds; beyond this the platform's timeout types overflow, and no test needs longer.
MAX_TIMEOUT = 1_000_000.0


def _float_at_least(low: float, *, inclusive: bool) -> Callable[[str], float]:
    """Return an argparse type accepting finite floats above (or at) low, up to MAX_TIMEOUT."""

    def convert(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid float value: {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"invalid float value: {text!r}")
        if value < low or (not inclusive and value == low) or value > MAX_TIMEOUT:
            bound = f">= {low:g}" if inclusive else f"> {low:g}"
            raise argparse.ArgumentTypeError(
                f"{text} is out of range (must be {bound} and <= {MAX_TIMEOUT:g})"
            )
        return value

    return convert


def _describe_range(low: int | None, high: int | None) -> str:
    if low is not None and high is not None:
        return f"must be {low}..{high}"
    if low is not None:
        return f"must be >= {low}"
    return f"must be <= {high}"


def _codec_name(text: str) -> str:
    """Accept only encodings Python can actually decode handler files with."""
    try:
        codecs.lookup(text)
    except LookupError:
        raise argparse.ArgumentTypeError(f"unknown encoding {text!r}") from None
    return text


# --- config file -----------------------------------------------------------------


class _ConfigFileFormat(configargparse.ConfigFileParser):
    """Reads ``key = value`` files and checks each entry while its line is known.

    configargparse turns config entries into command line arguments before argparse
    sees them, so an error found later could not say which line caused it. Checking
    keys and values here keeps the line number in every message.
    """

    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self._parser = parser

    def get_syntax_description(self) -> str:
        return (
            "Config file lines are 'key = value' (or 'key: value') with a long option "
            "name as key in either spelling (log_level or log-level); flags take "
            "true/false/yes/no/on/off/1/0; lines starting with # or ; are comments; a "
            "[pywebsocket] or [mod_ws] section line is allowed."
        )

    def parse(self, stream: Iterable[str]) -> OrderedDict[str, str]:
        source = getattr(stream, "name", "config file")
        keys = self._settable_keys()
        items: OrderedDict[str, str] = OrderedDict()
        first_line_of: dict[str, int] = {}
        for number, raw in enumerate(stream, start=1):
            try:
                entry = self._parse_line(raw.strip(), keys)
                if entry is None:
                    continue
                key, value = entry
                if key in first_line_of:
                    raise _LineError(f"--{key} is already set on line {first_line_of[key]}")
            except _LineError as exc:
                raise configargparse.ConfigFileParserException(f"{source} line {number}: {exc}") from None
            first_line_of[key] = number
            items[key] = value
        return items

    @staticmethod
    def _parse_line(line: str, keys: dict[str, argparse.Action]) -> tuple[str, str] | None:
        """Return (canonical key, checked value), or None for a line that sets nothing."""
        if not line or line[0] in "#;":
            return None
        section = _SECTION_RE.match(line)
        if section:
            if section["name"] not in _ACCEPTED_SECTIONS:
                raise _LineError(f"unknown section {line!r} (only [pywebsocket] or [mod_ws] may appear)")
            return None
        entry = _ENTRY_RE.match(line)
        if not entry:
            raise _LineError(f"expected 'key = value', got {line!r}")
        action = keys.get(entry["key"].lower())
        if action is None:
            raise _LineError(f"unknown option {entry['key']!r}")
        name = _display_name(action)
        try:
            value = _check_config_value(action, entry["value"])
        except argparse.ArgumentTypeError as exc:
            raise _LineError(f"{name}: {exc}") from None
        return name[2:], value

    def serialize(self, items: OrderedDict[str, str]) -> str:
        return "".join(f"{key} = {value}\n" for key, value in items.items())

    def _settable_keys(self) -> dict[str, argparse.Action]:
        """Map every accepted config key to its action (not --help, not --config)."""
        keys: dict[str, argparse.Action] = {}
        for action in self._parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._VersionAction)) or getattr(
                    action, "is_config_file_arg", False):
                continue
            for option in action.option_strings:
                if option.startswith("--"):
                    keys[option[2:].lower()] = action
        return keys


def _check_config_value(action: argparse.Action, text: str) -> str:
    """Validate one config value; return the text configargparse should receive."""
    if action.nargs == 0:  # a flag
        word = text.lower()
        if word in _TRUE_WORDS:
            return "true"
        if word in _FALSE_WORDS:
            return "false"
        raise argparse.ArgumentTypeError(
            f"invalid flag value {text!r} (use true/false, yes/no, on/off or 1/0)"
        )
    try:
        value = action.type(text) if action.type is not None else text
    except (TypeError, ValueError):
        type_name = getattr(action.type, "__name__", "")
        raise argparse.ArgumentTypeError(f"invalid {type_name} value: {text!r}") from None
    if action.choices is not None and value not in action.choices:
        raise argparse.ArgumentTypeError(
            f"invalid choice: {text!r} (choose from {', '.join(map(str, action.choices))})"
        )
    return text


def _display_name(action: argparse.Action) -> str:
    """The dash spelling of an option's long name, as used in messages."""
    return next(option for option in action.option_strings if option.startswith("--"))


# --- the parser ------------------------------------------------------------------


class _Parser(configargparse.ArgumentParser):
    """A configargparse parser whose every complaint is one line on stderr."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(
            config_file_parser_class=_ConfigFileFormat(self),
            config_file_open_func=self._open_config_file,
            **kwargs,
        )
        # Set by options_from_keywords: a program embedding the server wants an
        # exception it can catch, not an exit.
        self.raise_errors = False

    def error(self, message: str) -> NoReturn:
        one_line = " ".join(str(message).split())
        # argparse says "argument -p/--port: ..."; name the option the way config
        # file errors do ("--port: ...") so both sources read alike.
        named = _ARGPARSE_PREFIX_RE.match(one_line)
        if named:
            spellings = named["names"].split("/")
            name = next((s for s in spellings if s.startswith("--")), spellings[0])
            one_line = f"{name}: {one_line[named.end():]}"
        if self.raise_errors:
            raise OptionError(one_line)
        self.exit(2, f"{self.prog}: error: {one_line}\n")

    def _open_config_file(self, path: str) -> io.StringIO:
        """Read the whole file up front so unreadable files fail with a plain reason."""
        try:
            text = Path(path).read_text(encoding="utf-8-sig")
        except OSError as exc:
            self.error(f"cannot read config file {path!r}: {exc.strerror or exc}")
        except UnicodeDecodeError as exc:
            self.error(f"cannot read config file {path!r}: not UTF-8 text ({exc.reason} at byte {exc.start})")
        stream = io.StringIO(text)
        stream.name = path
        return stream


class _HelpFormatter(argparse.HelpFormatter):
    """--help shows one spelling per option (`-d, --document-root DIR`): the underscore
    spellings pywebsocket3's users type are accepted, not listed; and every option that
    has a default names it."""

    def _format_action_invocation(self, action: argparse.Action) -> str:
        if not action.option_strings:
            return super()._format_action_invocation(action)
        shown = [s for s in action.option_strings if not (s.startswith("--") and "_" in s)]
        text = ", ".join(shown or action.option_strings[:1])
        if action.nargs != 0:
            text += " " + self._format_args(action, self._get_default_metavar_for_optional(action))
        return text

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if ("default" not in text and action.default not in (None, False, True, argparse.SUPPRESS)
                and action.nargs != 0):
            text += " (default: %(default)s)"
        return text


def _add(group: argparse._ActionsContainer, *flags: str, **kwargs: object) -> argparse.Action:
    """Add an option under each flag plus the underscore spelling of each long flag."""
    names = list(flags)
    for flag in flags:
        if flag.startswith("--") and "-" in flag[2:]:
            names.append("--" + flag[2:].replace("-", "_"))
    return group.add_argument(*names, **kwargs)


def build_parser() -> configargparse.ArgumentParser:
    """Build the mod_ws option parser (pywebsocket3 options plus mod_ws limits)."""
    parser = _Parser(
        prog=PROG,
        formatter_class=_HelpFormatter,
        description="Standalone threaded WebSocket test server, compatible with pywebsocket3.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}",
                        help="print the version and exit")
    parser.add_argument(
        "--config",
        dest="config_file",
        is_config_file=True,
        metavar="FILE",
        help="read options from FILE ('key = value' lines); the command line overrides it",
    )

    listen = parser.add_argument_group("listening")
    _add(listen, "-H", "--server-host", dest="server_host", default="",
         help="host name or address to listen on (default: all interfaces)")
    _add(listen, "-p", "--port", dest="port", type=_int_in_range(0, 65535), default=defaults.PORT,
         help="port to listen on (0 picks a free port; default: %(default)s)")
    _add(listen, "-V", "--validation-host", dest="validation_host", default=None,
         help="host name that absolute request URIs must name")
    _add(listen, "-P", "--validation-port", dest="validation_port", type=_int_in_range(1, 65535),
         default=None, help="port that absolute request URIs must name")
    _add(listen, "-q", "--queue", dest="request_queue_size", type=_int_in_range(1, 65535), default=defaults.BACKLOG,
         help="listen backlog of pending connections (default: %(default)s)")

    handlers = parser.add_argument_group("handlers and files")
    _add(handlers, "-d", "--document-root", dest="document_root", default=".",
         help="directory served over plain HTTP (default: %(default)s)")
    _add(handlers, "-w", "--websock-handlers", dest="websock_handlers", default=None,
         help="root directory of *_wsh.py handler files (default: the document root)")
    _add(handlers, "-m", "--websock-handlers-map-file", dest="websock_handlers_map_file", default=None,
         help="file of 'alias_path existing_path' lines that add resource aliases")
    _add(handlers, "-s", "--scan-dir", dest="scan_dir", default=None,
         help="scan only this directory under the handler root, to save start-up time")
    _add(handlers, "--allow-handlers-outside-root-dir", dest="allow_handlers_outside_root_dir",
         action="store_true", help="load handlers whose real path leaves the handler root")
    _add(handlers, "--allow-symlinks-outside-document-root", dest="allow_symlinks_outside_document_root",
         action="store_true", help="serve static files whose real path leaves the document root")
    _add(handlers, "--no-pywebsocket-imports", dest="pywebsocket_imports", action="store_false",
         help="do not make handlers' imports of mod_pywebsocket and pywebsocket3 load "
         "mod_ws's modules (then they need the real pywebsocket3 installed)")
    _add(handlers, "--no-error-details", dest="error_details", action="store_false",
         help="close with a bare 1011 when a handler raises (by default the close reason "
         "names the exception's class and message)")
    _add(handlers, "--reload", dest="reload", action="store_true",
         help="look at a handler file before each handshake to its resource: a changed "
         "file is imported again (an error answers 500 with the reason, never the old "
         "code), a new one appears, a deleted one is gone")
    _add(handlers, "--handler-encoding", dest="handler_encoding", type=_codec_name, default=None,
         help="text encoding of handler files (default: the locale's)")
    _add(handlers, "-x", "--cgi-paths", dest="cgi_paths", default=None,
         help="comma-separated URL paths under the document root whose executable files "
         "run as CGI programs (e.g. /cgi-bin,/htbin; / for all)")
    _add(handlers, "--cgi-timeout", dest="cgi_timeout", type=_float_at_least(0, inclusive=False),
         default=defaults.CGI_TIMEOUT,
         help="seconds a CGI program may run before it is killed (504) (default: %(default)s)")

    security = parser.add_argument_group("TLS and authentication")
    _add(security, "-t", "--tls", dest="use_tls", action="store_true",
         help="serve wss:// and https:// over TLS 1.2/1.3 (needs -k and -c)")
    _add(security, "-k", "--private-key", dest="private_key", default=None,
         help="PEM file of the TLS private key")
    _add(security, "-c", "--certificate", dest="certificate", default=None,
         help="PEM file of the TLS certificate (and any intermediate certificates)")
    _add(security, "--tls-module", dest="tls_module", choices=defaults.TLS_MODULES,
         default=defaults.TLS_MODULE,
         help="TLS implementation: pyopenssl or the standard library's ssl (default: %(default)s)")
    _add(security, "--tls-client-auth", dest="tls_client_auth", action="store_true",
         help="ask every client for a TLS certificate and verify it against --tls-client-ca")
    _add(security, "--tls-client-cert-optional", dest="tls_client_cert_optional", action="store_true",
         help="with --tls-client-auth, let clients without a certificate in (an invalid one "
         "is still refused)")
    _add(security, "--tls-client-ca", dest="tls_client_ca", default=None,
         help="PEM file of CA certificates that client certificates must chain to")
    _add(security, "--basic-auth", dest="use_basic_auth", action="store_true",
         help="require HTTP Basic authentication (401 otherwise) on every request")
    _add(security, "--basic-auth-credential", dest="basic_auth_credential", default="test:test",
         help="user:password accepted by --basic-auth (default: %(default)s)")

    multiplexed = parser.add_argument_group("HTTP/2 and HTTP/3")
    _add(multiplexed, "--http2", dest="http2", action="store_true",
         help="offer HTTP/2 by ALPN on the TLS port: the same handlers by extended CONNECT "
         "(RFC 8441), several WebSockets on one connection, static files too (needs --tls "
         "and pip install 'mod_ws[h2]')")
    _add(multiplexed, "--http3-port", dest="http3_port", type=_int_in_range(0, 65535), default=None,
         help="also serve HTTP/3 over QUIC on this UDP port (0: any free one), the same "
         "handlers by extended CONNECT (RFC 9220) (needs --tls and pip install 'mod_ws[h3]')")

    limits = parser.add_argument_group("limits")
    _add(limits, "--request-timeout", dest="request_timeout", type=_float_at_least(0, inclusive=False),
         default=defaults.REQUEST_TIMEOUT, help="seconds allowed to receive the HTTP request line and headers "
         "(default: %(default)s)")
    _add(limits, "--max-request-header-size", dest="max_request_header_size", type=_int_in_range(1024),
         default=defaults.MAX_REQUEST_HEADER_SIZE, help="largest request line plus headers, in bytes (default: %(default)s)")
    _add(limits, "--handshake-timeout", dest="handshake_timeout", type=_float_at_least(0, inclusive=False),
         default=defaults.HANDSHAKE_TIMEOUT, help="seconds for a whole opening handshake, from the "
         "request head's first byte to the 101, the handler's web_socket_do_extra_handshake "
         "included; then 408 and the connection is cut (default: %(default)s)")
    _add(limits, "--ping-interval", dest="ping_interval", type=_float_at_least(0, inclusive=False),
         default=None, help="ping every open WebSocket this often, in seconds, and close "
         "those whose pong does not come within --ping-timeout with 1011 (default: never, "
         "as pywebsocket3)")
    _add(limits, "--ping-timeout", dest="ping_timeout", type=_float_at_least(0, inclusive=False),
         default=defaults.PING_TIMEOUT, help="seconds a keepalive ping may go unanswered "
         "(default: %(default)s)")
    _add(limits, "--close-timeout", dest="close_timeout", type=_float_at_least(0, inclusive=True),
         default=defaults.CLOSE_TIMEOUT, help="seconds to wait for the peer's close frame (default: %(default)s)")
    _add(limits, "--send-timeout", dest="send_timeout", type=_float_at_least(0, inclusive=False),
         default=defaults.SEND_TIMEOUT, help="seconds a write may stay blocked by a peer that stopped reading "
         "before the connection is dropped (default: %(default)s)")
    _add(limits, "--max-message-size", dest="max_message_size", type=_int_in_range(1),
         default=defaults.MAX_MESSAGE_SIZE, help="largest received message, in bytes (default: %(default)s)")
    _add(limits, "--max-frame-size", dest="max_frame_size", type=_int_in_range(1), default=None,
         help="largest received data frame, in bytes: a larger one closes with 1009 on its "
         "header, before its payload is read (default: only --max-message-size applies)")
    _add(limits, "--auto-fragment-size", dest="auto_fragment_size", type=_int_in_range(1),
         default=None, help="send messages in frames of at most this many payload bytes "
         "(default: one frame per message)")
    _add(limits, "--max-connections", dest="max_connections", type=_int_in_range(1), default=None,
         help="most connections served at once; beyond it a connection gets 503 with "
         "Retry-After and is closed (default: no limit)")
    _add(limits, "--shutdown-timeout", dest="shutdown_timeout", type=_float_at_least(0, inclusive=True),
         default=defaults.SHUTDOWN_TIMEOUT, help="seconds to wait for connection threads at shutdown (default: %(default)s)")

    shaping = parser.add_argument_group(
        "network shaping", "What the server sends after the 101 crosses a slow link (reads are "
        "not shaped); a handler may shape its own connection with "
        "request.ws_stream.faults.shape(latency, jitter, bandwidth), in seconds and bytes per second.")
    _add(shaping, "--latency", dest="latency", type=_float_at_least(0, inclusive=True), default=0.0,
         metavar="MS", help="delay every WebSocket frame the server sends by this many "
         "milliseconds, pipelined as on a real link (default: 0, no delay)")
    _add(shaping, "--latency-jitter", dest="latency_jitter", type=_float_at_least(0, inclusive=True),
         default=0.0, metavar="MS", help="add a uniform random -MS..+MS to each frame's delay; "
         "frames keep their order and a negative delay counts as 0 (default: 0)")
    _add(shaping, "--bandwidth", dest="bandwidth", type=_int_in_range(1), default=None,
         metavar="BYTES_PER_S", help="pace what the server sends to this many bytes per second "
         "(default: unlimited)")

    logs = parser.add_argument_group("logging")
    _add(logs, "-l", "--log-file", dest="log_file", default=None,
         help="write the log to this rotating file instead of stderr")
    _add(logs, "--log-level", dest="log_level", choices=LOG_LEVEL_CHOICES, default="warn",
         help="lowest level logged (default: %(default)s)")
    _add(logs, "--deflate-log-level", dest="deflate_log_level", choices=DEFLATE_LOG_LEVEL_CHOICES,
         default="warn", help="lowest level logged by the deflate extension (default: %(default)s)")
    _add(logs, "--log-format", dest="log_format", choices=LOG_FORMAT_CHOICES, default="text",
         help="text lines, or one JSON object per line with the session's fields "
         "(default: %(default)s)")
    _add(logs, "--log-frames", dest="log_frames", action="store_true",
         help="log every WebSocket frame in (<) and out (>): opcode, FIN and RSV bits, "
         "length, masking and the first bytes of the payload (logger mod_ws.frames, at info "
         "whatever --log-level says)")
    _add(logs, "--status-page", dest="status_page", action="store_const", const=True, default=None,
         help="serve the status page (/_mod_ws/status and /_mod_ws/status.json: open "
         "sessions, recent refusals and closes, handler files) on any address (default: "
         "on when every listening address is loopback)")
    _add(logs, "--no-status-page", dest="status_page", action="store_const", const=False,
         help="do not serve the status page, not even on loopback")
    _add(logs, "--log-max", dest="log_max", type=_int_in_range(1), default=256 * 1024,
         help="bytes after which the log file is rotated (default: %(default)s)")
    _add(logs, "--log-count", dest="log_count", type=_int_in_range(0, 1000), default=5,
         help="rotated log files kept (default: %(default)s)")
    _add(logs, "--thread-monitor-interval-in-sec", dest="thread_monitor_interval_in_sec",
         type=_int_in_range(high=int(MAX_TIMEOUT)),
         default=-1, help="log the live threads every this many seconds; <= 0 disables "
         "(default: %(default)s)")
    return parser


# --- validation ------------------------------------------------------------------


def _reject_leftovers(leftovers: list[str]) -> None:
    """mod_ws takes no positional arguments; say which word was not understood."""
    words = [word for word in leftovers if word != "--"]
    if not words:
        return
    word = words[0]
    if word.startswith("-") and word != "-":
        raise OptionError(f"unrecognized option {word.split('=', 1)[0]!r}")
    raise OptionError(f"unexpected argument {word!r}")


def _check_tls(options: argparse.Namespace) -> None:
    """TLS options that only make sense together (the files are checked at start-up)."""
    if options.use_tls:
        for dest, name in (("private_key", "--private-key"), ("certificate", "--certificate")):
            if not getattr(options, dest):
                raise OptionError(f"--tls needs {name}")
    else:
        for dest, name in (("private_key", "--private-key"), ("certificate", "--certificate"),
                           ("tls_client_auth", "--tls-client-auth"),
                           ("tls_client_ca", "--tls-client-ca")):
            if getattr(options, dest):
                raise OptionError(f"{name} needs --tls")
    if options.tls_client_auth and not options.tls_client_ca:
        raise OptionError("--tls-client-auth needs --tls-client-ca (the CA that client "
                          "certificates must chain to)")
    if options.tls_client_cert_optional and not options.tls_client_auth:
        raise OptionError("--tls-client-cert-optional needs --tls-client-auth")
    if options.tls_client_ca and not options.tls_client_auth:
        raise OptionError("--tls-client-ca needs --tls-client-auth")


# The optional carriers: option, the library it needs, its oldest release tested here
# (aioquic before 1.7 mishandles a stream reset both ways), the extra that installs it.
_CARRIER_EXTRAS = (("http2", "--http2", "h2", (4, 1), "h2"),
                   ("http3_port", "--http3-port", "aioquic", (1, 7), "h3"))


def _release(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:2])


def _check_carriers(options: argparse.Namespace) -> None:
    """HTTP/2 and HTTP/3 ride on TLS and need their extra installed."""
    for dest, name, module, oldest, extra in _CARRIER_EXTRAS:
        value = getattr(options, dest, None)
        if value is None or value is False:
            continue
        if not options.use_tls:
            raise OptionError(f"{name} needs --tls (browsers speak HTTP/2 and HTTP/3 over TLS only)")
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):  # a broken or blocked installation
            found = False
        if not found:
            raise OptionError(f"{name} needs the {module} library: pip install 'mod_ws[{extra}]'")
        try:
            release = importlib.metadata.version(module)
        except importlib.metadata.PackageNotFoundError:
            continue  # importable without metadata (a source tree): taken as it is
        if _release(release) < oldest:
            raise OptionError(f"{name} needs {module} {'.'.join(map(str, oldest))} or later, "
                              f"found {release}: pip install 'mod_ws[{extra}]'")


def _check_basic_auth(options: argparse.Namespace) -> None:
    if ":" not in options.basic_auth_credential:
        raise OptionError(f"--basic-auth-credential {options.basic_auth_credential!r}: "
                          "expected user:password")


def _check_paths(options: argparse.Namespace) -> None:
    """The document root is served directly, so it must exist before start-up."""
    if not Path(options.document_root).is_dir():
        raise OptionError(f"--document-root {options.document_root!r} is not a directory")


def parse_options(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse and validate argv (default sys.argv[1:]) and any --config file.

    Exits with status 2 after one ``mod_ws: error: ...`` line on stderr if anything
    is wrong.
    """
    return _parse(build_parser(), sys.argv[1:] if argv is None else list(argv))


def options_from_keywords(**keywords: object) -> argparse.Namespace:
    """The options a command line would give, from keywords named as the options'
    dests (``document_root="example", port=0, use_tls=True``); a flag takes a bool.

    Values go through the same checks as on the command line; a bad one raises
    OptionError with the command line's one-line message.
    """
    parser = build_parser()
    parser.raise_errors = True
    actions = {action.dest: action for action in parser._actions if action.option_strings}
    argv: list[str] = []
    for dest, value in keywords.items():
        action = actions.get(dest)
        if action is None or dest in ("help", "version"):
            raise OptionError(f"unknown option {dest!r}")
        flag = _display_name(action)
        if action.nargs == 0:
            if not isinstance(value, bool):
                raise OptionError(f"{flag}: expected True or False, got {value!r}")
            if value != action.default:  # the flag flips its default (store_true or _false)
                argv.append(flag)
        elif value is not None:
            argv.append(f"{flag}={value}")
    return _parse(parser, argv)


def _parse(parser: _Parser, args: list[str]) -> argparse.Namespace:
    options, leftovers = parser.parse_known_args(args)
    try:
        _reject_leftovers(leftovers)
        _check_tls(options)
        _check_carriers(options)
        _check_basic_auth(options)
        _check_paths(options)
    except OptionError as exc:
        parser.error(str(exc))
    return options
