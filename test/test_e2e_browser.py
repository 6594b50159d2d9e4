"""End to end in a real browser: headless Chromium against the real server.

Browsers are the clients a WebSocket test server exists for, and some faults show only
there: Chromium keeps one inflate stream per connection, so a compressed message that
ends in a final deflate block without RFC 7692 section 7.2.3.4's trailing byte breaks
the message after it. Runs where Chromium and Playwright for Python are installed
(CI installs both and requires them); skipped otherwise, with the reason.
"""

from __future__ import annotations

import os
import shutil
import textwrap

import pytest

CHROMIUM = os.environ.get("MOD_WS_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
# CI sets MOD_WS_REQUIRE_BROWSER=1: there a missing browser is a failure, not a skip.
if not os.environ.get("MOD_WS_REQUIRE_BROWSER"):
    pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")
    pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium executable (set MOD_WS_CHROMIUM)")

from playwright import sync_api as playwright_sync  # noqa: E402 - after the skip checks

TIMEOUT_MS = 15_000
# Flags for a headless browser on a machine with no network and no display.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

HANDLERS = {
    # Every reply ends in a final deflate block (processor.set_bfinal), several in a row.
    "bfinal_wsh.py": """
        from mod_pywebsocket.extensions import PerMessageDeflateExtensionProcessor


        def web_socket_do_extra_handshake(request):
            for processor in request.ws_extension_processors:
                if isinstance(processor, PerMessageDeflateExtensionProcessor):
                    processor.set_bfinal(True)


        def web_socket_transfer_data(request):
            while True:
                message = request.ws_stream.receive_message()
                if message is None:
                    return
                for i in range(5):
                    request.ws_stream.send_message("%s %d " % (message, i) * 20)
    """,
    "echo_wsh.py": """
        def web_socket_do_extra_handshake(request):
            pass


        def web_socket_transfer_data(request):
            while True:
                message = request.ws_stream.receive_message()
                if message is None:
                    return
                request.ws_stream.send_message(message, binary=isinstance(message, bytes))
    """,
}

# Sends each message, collects every reply, closes with 4000 after the last one, and
# leaves what happened in window.outcome.
PAGE = """<!doctype html>
<meta charset="utf-8">
<script>
function run(path, messages, expected) {
  return new Promise(resolve => {
    const received = [];
    const ws = new WebSocket(`ws://${location.host}${path}`);
    ws.binaryType = "arraybuffer";
    ws.onopen = () => messages.forEach(m => ws.send(m));
    ws.onmessage = e => {
      received.push(typeof e.data === "string" ? e.data : Array.from(new Uint8Array(e.data)));
      if (received.length === expected) ws.close(4000, "done");
    };
    ws.onclose = e => resolve({received, code: e.code, reason: e.reason, clean: e.wasClean,
                               extensions: ws.extensions});
  });
}
</script>
"""


@pytest.fixture(scope="module")
def server(make_module_server, tmp_path_factory):
    root = tmp_path_factory.mktemp("browser")
    for name, text in HANDLERS.items():
        (root / name).write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    (root / "page.html").write_text(PAGE, encoding="utf-8")
    return make_module_server("-d", root)


@pytest.fixture(scope="module")
def page(server, tmp_path_factory):
    with playwright_sync.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            tab = browser.new_page()
            tab.set_default_timeout(TIMEOUT_MS)
            tab.goto(f"http://127.0.0.1:{server.port}/page.html")
            yield tab
        finally:
            browser.close()


def test_chromium_inflates_consecutive_bfinal_messages(page):
    outcome = page.evaluate("run('/bfinal', ['one', 'two'], 10)")
    assert outcome["extensions"].startswith("permessage-deflate")
    expected = [f"{word} {i} " * 20 for word in ("one", "two") for i in range(5)]
    assert outcome["received"] == expected
    assert (outcome["code"], outcome["reason"], outcome["clean"]) == (4000, "done", True)


def test_chromium_echo_with_deflate_text_and_binary_and_a_clean_close(page):
    big = "x" * 70_000 + "é€😀"
    outcome = page.evaluate("big => run('/echo', ['hello', new Uint8Array([0, 1, 255]), big], 3)", big)
    assert outcome["extensions"].startswith("permessage-deflate")
    assert outcome["received"] == ["hello", [0, 1, 255], big]
    assert (outcome["code"], outcome["reason"], outcome["clean"]) == (4000, "done", True)
