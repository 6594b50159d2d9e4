"""Headless Chromium over HTTP/2 and HTTP/3.

Over HTTP/2, a page loaded over https with h2 opens its wss:// WebSocket on the same
HTTP/2 connection, by extended CONNECT (RFC 8441): the server's access log shows the
page's GET and the WebSocket's CONNECT from the same peer address and port, both as
HTTP/2. Over HTTP/3 (QUIC forced on for the origin), Chromium loads the page over
HTTP/3; the WebSocket echoes over whichever carrier Chromium picks (this Chromium opens
it over HTTP/1.1: it does not speak RFC 9220), and the test records which. Runs where
Chromium and Playwright are installed (CI requires both), as test_e2e_browser.py does.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import socket

import pytest

pytest.importorskip("h2")

from conftest import ROOT  # noqa: E402
from test_e2e_browser import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS, playwright_sync  # noqa: E402

if not os.environ.get("MOD_WS_REQUIRE_BROWSER"):
    pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium executable (set MOD_WS_CHROMIUM)")

CERT = ROOT / "cert"
PAGE = """<!doctype html>
<meta charset="utf-8">
<script>
function run(path, message) {
  return new Promise(resolve => {
    const ws = new WebSocket(`wss://${location.host}${path}`);
    ws.onopen = () => ws.send(message);
    ws.onmessage = e => { window.echoed = e.data; ws.close(4000, "done"); };
    ws.onclose = e => resolve({echoed: window.echoed, code: e.code, reason: e.reason,
                               clean: e.wasClean, extensions: ws.extensions});
  });
}
</script>
"""
ECHO = (ROOT / "example" / "echo_wsh.py").read_text()


def visit(args: list[str], url: str, message: str) -> tuple[str, dict]:
    """Loads `url` in headless Chromium started with `args`, then echoes `message` on
    the page's WebSocket: (the page's nextHopProtocol, the echo's outcome)."""
    with playwright_sync.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=args)
        try:
            tab = browser.new_context(ignore_https_errors=True).new_page()
            tab.set_default_timeout(TIMEOUT_MS)
            tab.goto(url)
            protocol = tab.evaluate("performance.getEntriesByType('navigation')[0].nextHopProtocol")
            return protocol, tab.evaluate("message => run('/echo', message)", message)
        finally:
            browser.close()


def test_chromium_opens_wss_on_the_pages_http2_connection(make_server, tmp_path):
    (tmp_path / "page.html").write_text(PAGE, encoding="utf-8")
    (tmp_path / "echo_wsh.py").write_text(ECHO, encoding="utf-8")
    server = make_server("-d", tmp_path, "--tls", "-k", CERT / "server-key.pem",
                         "-c", CERT / "server.pem", "--http2", "--log-level", "info")
    # The test CA is not in the browser's store: certificate errors are waived.
    protocol, outcome = visit(CHROMIUM_ARGS + ["--ignore-certificate-errors"],
                              f"https://localhost:{server.port}/page.html",
                              "hello over h2 from chromium")
    assert protocol == "h2"
    assert outcome == {"echoed": "hello over h2 from chromium", "code": 4000, "reason": "done",
                       "clean": True, "extensions": "permessage-deflate"}
    connect = server.wait_for_stderr('"CONNECT /echo HTTP/2" 200')
    get = server.wait_for_stderr('"GET /page.html HTTP/2" 200')
    assert connect is not None and get is not None, server.stderr_text()
    peer = re.compile(r"mod_ws\.access: (\S+) ")
    assert peer.search(connect).group(1) == peer.search(get).group(1)  # one connection
    assert server.wait_for_stderr("/echo: closed by the client with 4000 'done'") is not None


def _spki_hash(certificate: str) -> str:
    """The base64 SHA-256 of a certificate's public key, as Chromium's
    --ignore-certificate-errors-spki-list takes it (QUIC ignores the other waivers)."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    cert = x509.load_pem_x509_certificate(open(certificate, "rb").read())
    der = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def test_chromium_loads_a_page_over_http3(make_server, tmp_path):
    pytest.importorskip("aioquic", minversion="1.7")
    (tmp_path / "page.html").write_text(PAGE, encoding="utf-8")
    (tmp_path / "echo_wsh.py").write_text(ECHO, encoding="utf-8")
    with socket.socket() as probe:  # one port number for TCP and UDP, as browsers expect
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = make_server("-H", "127.0.0.1", "-p", str(port), "-d", tmp_path, "--tls",
                         "-k", CERT / "server-key.pem", "-c", CERT / "server.pem",
                         "--http3-port", str(port), "--log-level", "info", defaults=False)
    origin = f"127.0.0.1:{port}"
    protocol, outcome = visit(
        [a for a in CHROMIUM_ARGS if a != "--disable-quic"] + [
            "--enable-quic", f"--origin-to-force-quic-on={origin}",
            f"--ignore-certificate-errors-spki-list={_spki_hash(str(CERT / 'server.pem'))}"],
        f"https://{origin}/page.html", "hello from a page over h3")
    assert protocol == "h3"
    assert server.wait_for_stderr('"GET /page.html HTTP/3" 200') is not None, server.stderr_text()
    assert outcome["echoed"] == "hello from a page over h3"
    assert (outcome["code"], outcome["clean"]) == (4000, True)
    carrier = re.search(r'"(?:GET|CONNECT) /echo (HTTP/[\d.]+)" (?:101|200)', server.stderr_text())
    assert carrier is not None
    print(f"Chromium opened the WebSocket over {carrier.group(1)}")
