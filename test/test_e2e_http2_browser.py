"""Headless Chromium over HTTP/2: a page loaded over https with h2 opens its wss://
WebSocket on the same HTTP/2 connection, by extended CONNECT (RFC 8441).

The server's access log shows it: the page's GET and the WebSocket's CONNECT come from
the same peer address and port, both as HTTP/2. Runs where Chromium and Playwright
are installed (CI requires both), as test_e2e_browser.py does.
"""

from __future__ import annotations

import os
import re

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


def test_chromium_opens_wss_on_the_pages_http2_connection(make_server, tmp_path):
    (tmp_path / "page.html").write_text(PAGE, encoding="utf-8")
    (tmp_path / "echo_wsh.py").write_text(ECHO, encoding="utf-8")
    server = make_server("-d", tmp_path, "--tls", "-k", CERT / "server-key.pem",
                         "-c", CERT / "server.pem", "--http2", "--log-level", "info")
    with playwright_sync.sync_playwright() as playwright:
        # The test CA is not in the browser's store: certificate errors are waived.
        browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                             args=CHROMIUM_ARGS + ["--ignore-certificate-errors"])
        try:
            context = browser.new_context(ignore_https_errors=True)
            tab = context.new_page()
            tab.set_default_timeout(TIMEOUT_MS)
            tab.goto(f"https://localhost:{server.port}/page.html")
            protocol = tab.evaluate("performance.getEntriesByType('navigation')[0].nextHopProtocol")
            outcome = tab.evaluate("run('/echo', 'hello over h2 from chromium')")
        finally:
            browser.close()
    assert protocol == "h2"
    assert outcome == {"echoed": "hello over h2 from chromium", "code": 4000, "reason": "done",
                       "clean": True, "extensions": "permessage-deflate"}
    connect = server.wait_for_stderr('"CONNECT /echo HTTP/2" 200')
    get = server.wait_for_stderr('"GET /page.html HTTP/2" 200')
    assert connect is not None and get is not None, server.stderr_text()
    peer = re.compile(r"mod_ws\.access: (\S+) ")
    assert peer.search(connect).group(1) == peer.search(get).group(1)  # one connection
    assert server.wait_for_stderr("/echo: closed by the client with 4000 'done'") is not None
