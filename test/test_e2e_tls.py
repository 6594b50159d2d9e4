"""wss:// and https:// end to end: the real server with --tls, over both TLS modules,
against independent clients (websockets, websocket-client, the standard library's ssl)
trusting the test CA in cert/."""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
import urllib.request
from pathlib import Path

import pytest
import websocket  # websocket-client
import wsraw
from conftest import ROOT, connect_wss, run_mod_ws
from websockets.exceptions import WebSocketException

CERT = ROOT / "cert"
TIMEOUT = 10.0
TLS_ARGS = ("--tls", "--private-key", CERT / "server-key.pem", "--certificate", CERT / "server.pem")
CLIENT_AUTH = ("--tls-client-auth", "--tls-client-ca", CERT / "ca.pem")
# How a client sees a refused certificate: TLS 1.3 reports it after the client's side of
# the handshake is done, so on its first read or in the WebSocket handshake.
REFUSED = (ssl.SSLError, ConnectionError, OSError, EOFError, WebSocketException)

PEER_CERT_HANDLER = """
import json

def web_socket_do_extra_handshake(request):
    pass

def web_socket_transfer_data(request):
    request.ws_stream.send_message(json.dumps({"https": request.is_https(),
                                               "cert": request.get_peer_cert()}))
"""

# Receives on a helper thread while the handler thread sends: over TLS one connection
# is then read and written from two threads at once.
DUPLEX_HANDLER = """
from mod_ws import msgutil

def web_socket_do_extra_handshake(request):
    pass

def web_socket_transfer_data(request):
    count = int(request.ws_resource.split("n=")[1])
    received = []
    receiver = msgutil.MessageReceiver(request, received.append)
    for i in range(count):
        request.ws_stream.send_message("s%d" % i)
    receiver.join(30)
    request.ws_stream.send_message("received %d" % len([m for m in received if m is not None]))
"""


def client_context(cert: str | None = None, key: str | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(CERT / "ca.pem"))
    if cert:
        context.load_cert_chain(str(CERT / cert), str(CERT / key))
    return context


@pytest.fixture(params=["pyopenssl", "ssl"])
def tls_module(request) -> str:
    return request.param


@pytest.fixture
def handlers(tmp_path: Path) -> Path:
    (tmp_path / "peer_wsh.py").write_text(PEER_CERT_HANDLER)
    (tmp_path / "duplex_wsh.py").write_text(DUPLEX_HANDLER)
    (tmp_path / "echo_wsh.py").write_text((ROOT / "example" / "echo_wsh.py").read_text())
    (tmp_path / "page.txt").write_text("over https\n")
    return tmp_path


def start(make_server, handlers: Path, tls_module: str, *extra):
    server = make_server("-d", handlers, *TLS_ARGS, "--tls-module", tls_module, *extra)
    return server, f"wss://localhost:{server.port}"


def test_wss_echo_with_websockets_and_https_static_file(make_server, handlers, tls_module):
    server, base = start(make_server, handlers, tls_module)
    assert server.wait_for_stderr("(TLS: wss://, https://)", TIMEOUT)
    with connect_wss(f"{base}/echo", ssl=client_context(), open_timeout=TIMEOUT,
                 compression=None) as ws:
        for message in ["hello", "κόσμε", b"\x00\xff" * 40_000, "x" * 200_000]:
            ws.send(message)
            assert ws.recv(timeout=TIMEOUT) == message
    url = f"https://localhost:{server.port}/page.txt"
    with urllib.request.urlopen(url, context=client_context(), timeout=TIMEOUT) as response:
        assert response.status == 200 and response.read() == b"over https\n"


def test_wss_echo_with_websocket_client_and_permessage_deflate(make_server, handlers, tls_module):
    server, base = start(make_server, handlers, tls_module)
    ws = websocket.create_connection(f"{base}/echo", timeout=TIMEOUT,
                                     sslopt={"ca_certs": str(CERT / "ca.pem")})
    try:
        ws.send("over websocket-client")
        assert ws.recv() == "over websocket-client"
    finally:
        ws.close()
    with connect_wss(f"{base}/echo", ssl=client_context(), open_timeout=TIMEOUT) as ws:
        assert "permessage-deflate" in ws.response.headers["Sec-WebSocket-Extensions"]
        ws.send("compressed " * 1000)
        assert ws.recv(timeout=TIMEOUT) == "compressed " * 1000


def test_the_handler_sees_https_and_no_peer_certificate_without_client_auth(
        make_server, handlers, tls_module):
    server, base = start(make_server, handlers, tls_module)
    with connect_wss(f"{base}/peer", ssl=client_context(), open_timeout=TIMEOUT) as ws:
        assert json.loads(ws.recv(timeout=TIMEOUT)) == {"https": True, "cert": None}


def test_client_auth_accepts_the_cas_client_and_shows_its_certificate(make_server, handlers, tls_module):
    server, base = start(make_server, handlers, tls_module, *CLIENT_AUTH)
    context = client_context("client.pem", "client-key.pem")
    with connect_wss(f"{base}/peer", ssl=context, open_timeout=TIMEOUT) as ws:
        seen = json.loads(ws.recv(timeout=TIMEOUT))
    cert = seen["cert"]
    assert "CN=mod_ws test client" in cert["subject"]
    assert "mod_ws test CA" in cert["issuer"]
    assert isinstance(cert["serial"], int) and cert["not_before"] < cert["not_after"]
    assert isinstance(cert["subject_alt_names"], list)


@pytest.mark.parametrize("cert, key", [(None, None), ("other-client.pem", "other-client-key.pem"),
                                       ("expired-client.pem", "expired-client-key.pem")],
                         ids=["no-certificate", "other-ca", "expired"])
def test_client_auth_refuses_a_missing_or_invalid_certificate_and_logs_why(
        make_server, handlers, tls_module, cert, key):
    server, base = start(make_server, handlers, tls_module, *CLIENT_AUTH)
    with pytest.raises(REFUSED):
        with connect_wss(f"{base}/peer", ssl=client_context(cert, key), open_timeout=TIMEOUT) as ws:
            ws.recv(timeout=TIMEOUT)
    assert server.wait_for_stderr("TLS handshake failed", TIMEOUT), server.stderr_text()
    # The server goes on serving clients with a good certificate.
    with connect_wss(f"{base}/peer", ssl=client_context("client.pem", "client-key.pem"),
                 open_timeout=TIMEOUT) as ws:
        assert json.loads(ws.recv(timeout=TIMEOUT))["cert"] is not None


def test_optional_client_auth_lets_clients_without_a_certificate_in_but_not_bad_ones(
        make_server, handlers, tls_module):
    server, base = start(make_server, handlers, tls_module, *CLIENT_AUTH,
                         "--tls-client-cert-optional")
    with connect_wss(f"{base}/peer", ssl=client_context(), open_timeout=TIMEOUT) as ws:
        assert json.loads(ws.recv(timeout=TIMEOUT))["cert"] is None
    with connect_wss(f"{base}/peer", ssl=client_context("client.pem", "client-key.pem"),
                 open_timeout=TIMEOUT) as ws:
        assert json.loads(ws.recv(timeout=TIMEOUT))["cert"] is not None
    with pytest.raises(REFUSED):
        with connect_wss(f"{base}/peer", ssl=client_context("other-client.pem", "other-client-key.pem"),
                     open_timeout=TIMEOUT) as ws:
            ws.recv(timeout=TIMEOUT)


def test_plain_http_on_the_tls_port_gets_a_clear_400_at_once(make_server, handlers, tls_module):
    server, _ = start(make_server, handlers, tls_module)
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as sock:
        sock.sendall(b"GET /echo HTTP/1.1\r\nHost: localhost\r\n\r\n")
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    assert time.monotonic() - started < 3
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert answer.endswith(b"this port speaks TLS: connect with wss:// or https://\n")
    assert server.wait_for_stderr("plain HTTP on the TLS port", TIMEOUT)


def test_a_silent_tls_client_is_dropped_after_the_request_timeout_and_blocks_no_one(
        make_server, handlers, tls_module):
    server, base = start(make_server, handlers, tls_module, "--request-timeout", "1")
    with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as silent, \
            socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as slow:
        slow.sendall(b"\x16\x03\x01")  # the start of a ClientHello, and then nothing
        with connect_wss(f"{base}/echo", ssl=client_context(), open_timeout=TIMEOUT) as ws:
            ws.send("not held up")
            assert ws.recv(timeout=TIMEOUT) == "not held up"
        started = time.monotonic()
        assert silent.recv(100) == b""
        assert slow.recv(100) == b""
        assert time.monotonic() - started < 3
    assert server.wait_for_stderr("TLS handshake not completed within 1 s", TIMEOUT)


def test_one_thread_receives_while_another_sends_10000_messages_over_wss(
        make_server, handlers, tls_module):
    """pyOpenSSL connections must not be read and written at once; the TLS transport
    serialises its calls without holding its lock across a wait."""
    server, base = start(make_server, handlers, tls_module)
    count = 10_000
    with connect_wss(f"{base}/duplex?n={count}", ssl=client_context(), open_timeout=TIMEOUT,
                 max_queue=None) as ws:
        sender = threading.Thread(target=lambda: [ws.send(f"c{i}") for i in range(count)])
        sender.start()
        received = [ws.recv(timeout=30) for _ in range(count)]
        sender.join(30)
        assert received == [f"s{i}" for i in range(count)]
        ws.close()
    assert not sender.is_alive()


def test_the_receiver_thread_counts_every_client_message_over_wss(make_server, handlers, tls_module):
    server, base = start(make_server, handlers, tls_module)
    with connect_wss(f"{base}/duplex?n=2000", ssl=client_context(), open_timeout=TIMEOUT,
                 max_queue=None) as ws:
        for i in range(3000):
            ws.send(f"c{i}")
        received = [ws.recv(timeout=30) for _ in range(2000)]
        assert received == [f"s{i}" for i in range(2000)]
        ws.close()  # the receiver sees the close and the handler reports its count
        # (after our close the server may still send the count before its own close)


@pytest.mark.parametrize("args, words", [
    (("-k", "missing.pem", "-c", "cert/server.pem"), "--private-key 'missing.pem': no such file"),
    (("-k", "cert/server-key.pem", "-c", "missing.pem"), "--certificate 'missing.pem': no such file"),
    (("-k", "cert/server-key.pem", "-c", "cert/README.md"), "--certificate 'cert/README.md' is not"),
    (("-k", "cert/README.md", "-c", "cert/server.pem"), "--private-key 'cert/README.md' is not"),
    (("-k", "cert/client-key.pem", "-c", "cert/server.pem"),
     "--private-key 'cert/client-key.pem' does not match --certificate 'cert/server.pem'"),
    (("-k", "cert/server-key.pem", "-c", "cert/server.pem", "--tls-client-auth",
      "--tls-client-ca", "cert/README.md"), "--tls-client-ca 'cert/README.md' is not"),
])
@pytest.mark.parametrize("module", ["pyopenssl", "ssl"])
def test_bad_key_or_certificate_files_are_one_line_start_up_errors(args, words, module):
    result = run_mod_ws("-H", "127.0.0.1", "-p", "0", "-d", "example", "--tls",
                        "--tls-module", module, *args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mod_ws: error: ") and words in lines[0], lines


def test_a_clean_close_ends_with_close_notify(make_server, handlers, tls_module):
    """The server's last TLS record after the closing handshake is close_notify, so the
    client's read ends cleanly (b"") instead of with an unexpected EOF."""
    server, _ = start(make_server, handlers, tls_module)
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT)
    with client_context().wrap_socket(raw, server_hostname="localhost",
                                      suppress_ragged_eofs=False) as tls:
        tls.sendall(wsraw.handshake_request("/echo"))
        data = b""
        while b"\r\n\r\n" not in data:
            data += tls.recv(4096)
        assert data.startswith(b"HTTP/1.1 101 ")
        tls.sendall(wsraw.encode_frame(wsraw.OP_CLOSE, b"\x03\xe8", mask=True))
        rest = data.split(b"\r\n\r\n", 1)[1]
        while True:
            chunk = tls.recv(4096)  # raises ssl.SSLEOFError on an EOF without close_notify
            if not chunk:
                break
            rest += chunk
        assert rest == b"\x88\x02\x03\xe8"


@pytest.mark.parametrize("offered, selected", [(["h2", "http/1.1"], "http/1.1"), (["h2"], None), ([], None)])
def test_alpn_selects_http_1_1_when_offered(make_server, handlers, tls_module, offered, selected):
    server, _ = start(make_server, handlers, tls_module)
    context = client_context()
    if offered:
        context.set_alpn_protocols(offered)
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT)
    with context.wrap_socket(raw, server_hostname="localhost") as tls:
        assert tls.selected_alpn_protocol() == selected


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_tls_1_2_and_1_3_are_spoken(make_server, handlers, tls_module, version):
    server, base = start(make_server, handlers, tls_module)
    context = client_context()
    context.minimum_version = context.maximum_version = version
    with connect_wss(f"{base}/echo", ssl=context, open_timeout=TIMEOUT) as ws:
        ws.send("v")
        assert ws.recv(timeout=TIMEOUT) == "v"
        assert ws.socket.version() == {ssl.TLSVersion.TLSv1_2: "TLSv1.2",
                                       ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[version]


def test_relative_tls_paths_are_found_under_the_document_root_as_pywebsocket3_finds_them(
        make_server, handlers, tls_module):
    """pywebsocket3 changes into the document root before opening -k and -c."""
    for name in ("server.pem", "server-key.pem"):
        (handlers / name).write_bytes((CERT / name).read_bytes())
    server = make_server("-d", handlers, "--tls", "-k", "server-key.pem", "-c", "server.pem",
                         "--tls-module", tls_module)
    with connect_wss(f"wss://localhost:{server.port}/echo", ssl=client_context(),
                 open_timeout=TIMEOUT) as ws:
        ws.send("found")
        assert ws.recv(timeout=TIMEOUT) == "found"
