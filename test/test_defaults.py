"""Each default is written once (mod_ws.defaults): the command line, the config file,
the embedding API and the protocol core all read the same values."""

from __future__ import annotations

import inspect
from pathlib import Path

from mod_ws import defaults
from mod_ws.options import parse_options
from mod_ws.protocol.messages import MessageAssembler
from mod_ws.server.config import ServerConfig
from mod_ws.server.listener import WebSocketServer
from mod_ws.server.session import StreamOptions
from mod_ws.server.sockets import open_listeners


def test_the_command_line_defaults_are_the_shared_ones():
    options = parse_options([])
    assert options.port == defaults.PORT
    assert options.request_queue_size == defaults.BACKLOG
    assert options.request_timeout == defaults.REQUEST_TIMEOUT
    assert options.max_request_header_size == defaults.MAX_REQUEST_HEADER_SIZE
    assert options.close_timeout == defaults.CLOSE_TIMEOUT
    assert options.send_timeout == defaults.SEND_TIMEOUT
    assert options.max_message_size == defaults.MAX_MESSAGE_SIZE
    assert options.shutdown_timeout == defaults.SHUTDOWN_TIMEOUT


def test_the_config_file_reads_the_same_defaults(tmp_path: Path):
    config = tmp_path / "server.ini"
    config.write_text("[pywebsocket]\nlog_level = info\n")
    options = parse_options(["--config", str(config)])
    assert (options.max_message_size, options.close_timeout) == (defaults.MAX_MESSAGE_SIZE,
                                                                 defaults.CLOSE_TIMEOUT)


def test_the_embedding_api_and_the_core_read_the_same_defaults(tmp_path: Path):
    config = ServerConfig(document_root=tmp_path, dispatcher=None)
    assert config.request_timeout == defaults.REQUEST_TIMEOUT
    assert config.max_request_header_size == defaults.MAX_REQUEST_HEADER_SIZE
    assert config.close_timeout == defaults.CLOSE_TIMEOUT
    assert config.send_timeout == defaults.SEND_TIMEOUT
    assert config.max_message_size == defaults.MAX_MESSAGE_SIZE
    assert config.stream_options() == StreamOptions()
    assert StreamOptions().max_message_size == defaults.MAX_MESSAGE_SIZE
    assert StreamOptions().close_timeout == defaults.CLOSE_TIMEOUT
    assert MessageAssembler().max_message_size == defaults.MAX_MESSAGE_SIZE
    server_defaults = inspect.signature(WebSocketServer).parameters
    assert inspect.signature(open_listeners).parameters["backlog"].default == defaults.BACKLOG
    assert server_defaults["shutdown_timeout"].default == defaults.SHUTDOWN_TIMEOUT


def test_a_deprecation_warning_raised_in_mod_ws_code_fails_the_suite():
    """pyproject.toml turns DeprecationWarnings issued from mod_ws's modules into errors,
    so a use of anything deprecated (on any Python CI runs) fails a test."""
    import warnings

    import pytest

    with pytest.raises(DeprecationWarning):
        warnings.warn_explicit("deprecated", DeprecationWarning, "mod_ws/x.py", 1,
                               module="mod_ws.server.x")
