"""The opening-handshake steps every carrier shares (mod_ws.server.accept), driven the
way an extended CONNECT carrier will drive them: no HTTP/1.1 fields, a real Dispatcher
over handler files, an in-memory connection."""

from __future__ import annotations

from pathlib import Path

import pytest
from memory_transport import MemoryTransport

from mod_ws.dispatch import Dispatcher
from mod_ws.exceptions import DispatchException, HandshakeException
from mod_ws.protocol.closing import CloseState
from mod_ws.protocol.headers import Headers
from mod_ws.server.accept import accept_websocket
from mod_ws.server.config import ServerConfig
from mod_ws.server.request import Connection

HANDLER = """
from mod_ws import handshake

def web_socket_do_extra_handshake(request):
    mode = request.headers_in['X-Mode']
    if mode == 'refuse':
        raise handshake.HandshakeException('not today', 403)
    if mode == 'abort':
        raise handshake.AbortedByUserException('dropped')
    if mode == 'bad-protocol':
        request.ws_protocol = 'never-offered'
    elif request.ws_requested_protocols:
        request.ws_protocol = request.ws_requested_protocols[-1]
    if mode == 'decline-deflate':
        request.ws_extension_processors[:] = []
    request.extra_headers.append(('X-Handler', 'seen'))

def web_socket_transfer_data(request):
    pass
"""


@pytest.fixture
def config(tmp_path: Path) -> ServerConfig:
    (tmp_path / "chat_wsh.py").write_text(HANDLER)
    return ServerConfig(document_root=tmp_path, dispatcher=Dispatcher(str(tmp_path)),
                        max_message_size=4096)


def accept(config: ServerConfig, *fields, resource: str = "/chat", secure: bool = True):
    headers = Headers([("Sec-WebSocket-Version", "13"), *fields])
    connection = Connection(MemoryTransport(), ("::1", 50000), ("::1", 443))
    return accept_websocket(config, connection, "CONNECT", resource, "HTTP/2", headers, secure)


def test_an_extended_connect_is_accepted_with_the_handlers_choices(config):
    request = accept(config, ("Origin", "https://a.test"), ("Sec-WebSocket-Protocol", "v1, v2"),
                     ("Sec-WebSocket-Extensions", "permessage-deflate"), resource="/chat?room=1")
    assert request.method == "CONNECT" and request.protocol == "HTTP/2"
    assert request.ws_resource == "/chat?room=1" and request.is_https()
    assert (request.ws_origin, request.ws_version) == ("https://a.test", 13)
    assert request.ws_requested_protocols == ["v1", "v2"] and request.ws_protocol == "v2"
    assert [e.name() for e in request.ws_extensions] == ["permessage-deflate"]
    assert request.ws_deflate
    assert request.extra_headers == [("X-Handler", "seen")]
    assert request.ws_stream is not None
    assert request.close_handshake.state is CloseState.OPEN


def test_the_negotiated_inflater_is_given_the_servers_message_limit(config):
    request = accept(config, ("Sec-WebSocket-Extensions", "permessage-deflate"))
    assert request.ws_stream._assembler.inflater.max_size == 4096


def test_a_handler_that_removes_the_processors_declines_the_extension(config):
    request = accept(config, ("X-Mode", "decline-deflate"),
                     ("Sec-WebSocket-Extensions", "permessage-deflate"))
    assert request.ws_extensions is None and not request.ws_deflate


def test_a_handler_abort_returns_none(config):
    assert accept(config, ("X-Mode", "abort")) is None


@pytest.mark.parametrize("fields, resource, exception, status", [
    ([("X-Mode", "refuse")], "/chat", HandshakeException, 403),
    ([("X-Mode", "bad-protocol"), ("Sec-WebSocket-Protocol", "v1")], "/chat", HandshakeException, 500),
    ([("Sec-WebSocket-Protocol", "a b")], "/chat", HandshakeException, 400),
    ([], "/nowhere", DispatchException, 404),
])
def test_refusals_carry_the_status_to_answer_with(config, fields, resource, exception, status):
    with pytest.raises(exception) as info:
        accept(config, *fields, resource=resource)
    assert info.value.status == status


def test_an_unsupported_version_is_refused_before_the_handler_runs(config):
    headers = Headers([("Sec-WebSocket-Version", "8"), ("X-Mode", "abort")])
    connection = Connection(MemoryTransport(), ("::1", 1), ("::1", 2))
    with pytest.raises(HandshakeException) as info:
        accept_websocket(config, connection, "CONNECT", "/chat", "HTTP/2", headers, False)
    assert info.value.status == 426
