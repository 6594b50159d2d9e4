"""HTTP Basic authentication end to end: the real server with --basic-auth asks for the
credential on WebSocket handshakes and static files alike."""

from __future__ import annotations

import base64

import pytest
import websocket  # websocket-client
import wsraw
from conftest import EXAMPLE


def basic(credential: str) -> str:
    return "Basic " + base64.b64encode(credential.encode()).decode()


@pytest.fixture(scope="module")
def auth_server(make_module_server):
    return make_module_server("-d", EXAMPLE, "--basic-auth", "--basic-auth-credential", "user:secret")


def test_a_handshake_without_credentials_is_refused_with_401(auth_server):
    response, _ = wsraw.http_exchange(auth_server.port, wsraw.handshake_request("/echo"))
    assert response.status == 401
    assert response.header("WWW-Authenticate").startswith('Basic realm="mod_ws"')


def test_a_handshake_with_the_credential_is_accepted(auth_server):
    ws = websocket.create_connection(auth_server.url("/echo"), timeout=10,
                                     header=[f"Authorization: {basic('user:secret')}"])
    try:
        ws.send("authorised")
        assert ws.recv() == "authorised"
    finally:
        ws.close()


@pytest.mark.parametrize("authorization, status", [
    (None, 401), (basic("user:wrong"), 401), (basic("user:secret"), 200)])
def test_static_files_ask_for_the_same_credential(auth_server, authorization, status):
    extra = f"Authorization: {authorization}\r\n" if authorization else ""
    with wsraw.Conn.open(auth_server.port) as conn:
        conn.send(f"GET /console.html HTTP/1.1\r\nHost: x\r\n{extra}\r\n".encode())
        assert conn.read_http_response().status == status
