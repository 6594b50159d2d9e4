"""example/benchmark.html in headless Chromium against the real server's example/ root:
a small run fills the results table with non-zero throughput both ways.

Uses test_e2e_browser's browser, flags, timeout and skip rules (no Chromium or no
Playwright: skipped, unless MOD_WS_REQUIRE_BROWSER is set).
"""

from __future__ import annotations

import test_e2e_browser
from test_e2e_browser import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS, playwright_sync

pytestmark = getattr(test_e2e_browser, "pytestmark", [])


def run_benchmark(tab, port: int, size: int, count: int) -> list[dict]:
    """Opens the page, runs one benchmark and returns the results table's rows."""
    tab.goto(f"http://127.0.0.1:{port}/benchmark.html")
    assert tab.input_value("#url") == f"ws://127.0.0.1:{port}/benchmark"
    tab.get_by_label("Message size (bytes)").fill(str(size))
    tab.get_by_label("Number of messages").fill(str(count))
    tab.get_by_role("button", name="Run benchmark").click()
    tab.wait_for_selector("#status[data-state=done], #status[data-state=error]")
    assert tab.get_attribute("#status", "data-state") == "done", tab.text_content("#status")
    return tab.eval_on_selector_all("#results tr", """rows => rows.map(row => ({
        direction: row.dataset.direction,
        cells: Array.from(row.cells, cell => cell.textContent),
        mbps: Number(row.querySelector('.mbps').dataset.value),
        mps: Number(row.querySelector('.mps').dataset.value),
    }))""")


def test_benchmark_page_measures_non_zero_mb_per_second_both_ways(server):
    with playwright_sync.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            tab = browser.new_page()
            tab.set_default_timeout(TIMEOUT_MS)
            rows = run_benchmark(tab, server.port, size=16384, count=20)
        finally:
            browser.close()
    assert [row["direction"] for row in rows] == ["download", "upload"]
    for row in rows:
        run, _, messages, size = row["cells"][:4]
        assert (run, messages, size) == ("1", "20", "16,384"), row
        assert row["mbps"] > 0 and row["mps"] > 0, row
        assert float(row["cells"][5]) > 0, row  # the MB/s shown
    assert rows[0]["cells"][1] == "Server to browser"
    assert rows[1]["cells"][1] == "Browser to server"
