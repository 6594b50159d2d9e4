"""End to end: example/console.html, the browser echo console, driven in headless Chromium.

The real server serves the repository's example/ directory (the page itself and
example/echo_wsh.py); the tests click the page's controls and read its log, as a person
using the console would. Skipped, like test_e2e_browser.py, where Chromium or Playwright
for Python is missing (unless MOD_WS_REQUIRE_BROWSER=1).
"""

from __future__ import annotations

import os
import shutil

import pytest
import test_e2e_browser as browser_e2e  # importing it runs its Playwright skip check
from conftest import EXAMPLE
from test_e2e_browser import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS, playwright_sync

# Its skip when there is no chromium executable (it sets none under MOD_WS_REQUIRE_BROWSER=1).
pytestmark = getattr(browser_e2e, "pytestmark", [])

NON_ASCII = "héllo → 世界"
BIG = 100 * 1024


@pytest.fixture(scope="module")
def console_server(make_module_server):
    return make_module_server("-d", EXAMPLE)


@pytest.fixture(scope="module")
def browser():
    with playwright_sync.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser, console_server):
    """A fresh browser context with console.html loaded from the server."""
    context = browser.new_context(viewport={"width": 1100, "height": 1000})
    try:
        tab = context.new_page()
        tab.set_default_timeout(TIMEOUT_MS)
        tab.goto(f"http://127.0.0.1:{console_server.port}/console.html")
        yield tab
    finally:
        context.close()


def lines(page, kind: str):
    return page.locator(f"#log > .{kind}")


def connect(page, path: str = "/echo", protocols: str = ""):
    if path != "/echo":
        page.fill("#url", page.input_value("#url").replace("/echo", path))
    page.fill("#protocols", protocols)
    page.click("#connect")


def open_echo(page, protocols: str = ""):
    connect(page, protocols=protocols)
    playwright_sync.expect(lines(page, "open")).to_have_count(1)
    playwright_sync.expect(page.locator("#state")).to_have_text("OPEN")


def wait_received(page, count: int):
    playwright_sync.expect(lines(page, "received")).to_have_count(count)
    return lines(page, "received")


def test_console_connects_to_its_own_host_and_shows_protocol_extensions_and_handshake_time(
        page, console_server):
    assert page.input_value("#url") == f"ws://127.0.0.1:{console_server.port}/echo"
    for control in ("url", "protocols", "close-code", "close-reason", "message", "hex", "file",
                    "gen-size", "gen-kind"):
        assert page.locator(f"label[for='{control}']").is_visible(), control
    open_echo(page, protocols="chat, superchat")
    line = lines(page, "open").first
    text = line.text_content()
    assert "permessage-deflate" in text
    assert 'protocol "chat"' in text  # example/echo_wsh.py picks the first one offered
    assert " ms" in text and float(line.get_attribute("data-handshake-ms")) >= 0
    assert line.get_attribute("data-extensions").startswith("permessage-deflate")
    assert page.locator("#buffered").text_content() == "0"


def test_console_echoes_ascii_and_non_ascii_text_with_utf8_sizes_and_round_trips(page):
    open_echo(page)
    for text in ("hello", NON_ASCII):
        page.fill("#message", text)
        page.press("#message", "Enter")
    received = wait_received(page, 2)
    for i, text in enumerate(("hello", NON_ASCII)):
        size = len(text.encode("utf-8"))
        sent = lines(page, "sent").nth(i)
        assert f"text {size} bytes" in sent.text_content() and text in sent.text_content()
        line = received.nth(i)
        assert line.get_attribute("data-size") == str(size)
        assert f'"{text}"' in line.text_content()
        assert "rtt " in line.text_content() and float(line.get_attribute("data-rtt")) >= 0
    assert len(NON_ASCII.encode("utf-8")) != len(NON_ASCII)  # the size is UTF-8's, not JS's
    assert page.locator("#pending").text_content() == "0"


def test_console_cuts_a_generated_100_kib_message_in_the_log_but_shows_its_full_size(page):
    open_echo(page)
    page.fill("#gen-size", str(BIG))
    page.select_option("#gen-kind", "text")
    page.click("#send-gen")
    line = wait_received(page, 1).first
    text = line.text_content()
    assert f"{BIG} bytes" in text
    assert line.get_attribute("data-size") == str(BIG)
    assert line.get_attribute("data-truncated") == "true"
    assert "cut" in line.locator(".cut").text_content()
    assert len(text) < 400  # the first 200 characters, not 100 KiB
    assert lines(page, "sent").first.get_attribute("data-size") == str(BIG)
    assert "rtt " in text


def test_console_sends_hex_and_a_file_as_binary_and_rejects_bad_hex_with_an_error(page):
    open_echo(page)
    page.fill("#hex", "de ad be ef")
    page.click("#send-hex")
    first = wait_received(page, 1).first
    assert first.get_attribute("data-type") == "binary"
    assert "binary 4 bytes" in first.text_content() and "de ad be ef" in first.text_content()

    page.fill("#hex", "deadbeef0")
    page.click("#send-hex")
    playwright_sync.expect(lines(page, "error")).to_have_count(1)
    assert "odd number of hex digits" in lines(page, "error").first.text_content()
    page.fill("#hex", "zz")
    page.click("#send-hex")
    playwright_sync.expect(lines(page, "error")).to_have_count(2)
    assert "not hexadecimal" in lines(page, "error").nth(1).text_content()
    assert lines(page, "sent").count() == 1

    page.set_input_files("#file", {"name": "three.bin", "mimeType": "application/octet-stream",
                                   "buffer": bytes([0, 1, 255])})
    page.click("#send-file")
    second = wait_received(page, 2).nth(1)
    assert "binary 3 bytes" in second.text_content() and "00 01 ff" in second.text_content()
    assert "three.bin" in lines(page, "sent").nth(1).text_content()


def test_console_close_with_code_and_reason_logs_them_and_was_clean(page):
    open_echo(page)
    page.fill("#close-code", "4000")
    page.fill("#close-reason", "bye now")
    page.click("#close")
    playwright_sync.expect(lines(page, "close")).to_have_count(1)
    line = lines(page, "close").first
    text = line.text_content()
    assert "4000" in text and "bye now" in text and "wasClean true" in text
    assert (line.get_attribute("data-code"), line.get_attribute("data-reason"),
            line.get_attribute("data-clean")) == ("4000", "bye now", "true")
    playwright_sync.expect(page.locator("#state")).to_have_text("CLOSED")
    assert page.locator("#connect").is_enabled() and page.locator("#send").is_disabled()


def test_console_shows_the_servers_reason_when_a_connection_is_refused(page):
    connect(page, "/nothere")
    playwright_sync.expect(lines(page, "close")).to_have_count(1)
    assert "1006" in lines(page, "close").first.text_content()
    assert lines(page, "open").count() == 0
    # "connecting" and then either the server's reason or the line saying there is none.
    playwright_sync.expect(page.locator("#log > .info, #log > .server")).to_have_count(2)
    assert lines(page, "server").count() == 1, page.locator("#log").text_content()
    line = lines(page, "server").first
    assert "server: 404 no WebSocket handler for /nothere" in line.text_content()
    assert line.get_attribute("data-status") == "404"


def test_console_screenshot_of_a_session_is_a_real_png(page, tmp_path):
    open_echo(page)
    page.fill("#message", NON_ASCII)
    page.click("#send")
    page.fill("#hex", "de ad be ef")
    page.click("#send-hex")
    page.fill("#gen-size", str(BIG))
    page.click("#send-gen")
    wait_received(page, 3)
    page.fill("#close-code", "4000")
    page.fill("#close-reason", "done")
    page.click("#close")
    playwright_sync.expect(lines(page, "close")).to_have_count(1)
    data = page.screenshot(full_page=True)  # (path= would leave Playwright's writer thread)
    shot = tmp_path / "console_screenshot.png"
    shot.write_bytes(data)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 10 * 1024
    if os.environ.get("MOD_WS_SCREENSHOT_DIR"):
        shutil.copy(shot, os.environ["MOD_WS_SCREENSHOT_DIR"])
