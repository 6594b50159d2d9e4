"""Tests of logging configuration and the thread monitor (mod_ws.logging_setup)."""

from __future__ import annotations

import logging
import logging.handlers
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mod_ws.logging_setup import (
    LOGLEVEL_FINE,
    ThreadMonitor,
    configure_logging,
    start_thread_monitor,
)
from mod_ws.options import parse_options


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Put the root and deflate loggers back as they were after each test."""
    root = logging.getLogger()
    deflate = logging.getLogger("mod_ws.deflate")
    saved = (root.level, list(root.handlers), deflate.level)
    yield
    for handler in list(root.handlers):
        if handler not in saved[1]:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(saved[0])
    deflate.setLevel(saved[2])


def added_handlers() -> list[logging.Handler]:
    """Handlers on the root logger other than pytest's own capture handlers."""
    return [h for h in logging.getLogger().handlers if type(h).__module__ != "_pytest.logging"]


def test_fine_level_is_pywebsocket3s_9_and_named_fine() -> None:
    assert LOGLEVEL_FINE == 9  # handlers log with common.LOGLEVEL_FINE
    assert logging.getLevelName(9) == "FINE"


@pytest.mark.parametrize(
    ("word", "level"),
    [("fine", 9), ("debug", logging.DEBUG), ("info", logging.INFO), ("warning", logging.WARNING),
     ("warn", logging.WARNING), ("error", logging.ERROR), ("critical", logging.CRITICAL)],
)
def test_log_level_word_sets_root_level(word: str, level: int) -> None:
    configure_logging(parse_options(["--log-level", word]))
    assert logging.getLogger().level == level


def test_deflate_logger_gets_its_own_level() -> None:
    configure_logging(parse_options(["--log-level", "debug", "--deflate-log-level", "error"]))
    assert logging.getLogger().level == logging.DEBUG
    assert logging.getLogger("mod_ws.deflate").level == logging.ERROR


def test_without_log_file_records_go_to_stderr_in_the_documented_format(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging(parse_options(["--log-level", "info"]))
    (handler,) = added_handlers()
    assert isinstance(handler, logging.StreamHandler)
    logging.getLogger("mod_ws.test").info("hello %s", "there")
    err = capsys.readouterr().err
    assert "] [INFO] mod_ws.test: hello there" in err
    assert err.startswith("[")


def test_calling_configure_twice_does_not_duplicate_handlers(tmp_path: Path) -> None:
    configure_logging(parse_options([]))
    configure_logging(parse_options(["--log-level", "debug"]))
    assert len(added_handlers()) == 1
    log = tmp_path / "server.log"
    configure_logging(parse_options(["-l", str(log), "--log-level", "info"]))
    (handler,) = added_handlers()
    assert isinstance(handler, logging.handlers.RotatingFileHandler)
    logging.getLogger("mod_ws.test").info("once")
    handler.flush()
    assert log.read_text().count("once") == 1


def test_log_file_receives_fine_records_when_level_is_fine(tmp_path: Path) -> None:
    log = tmp_path / "fine.log"
    configure_logging(parse_options(["--log_file", str(log), "--log_level", "fine"]))
    logging.getLogger("mod_ws.test").log(LOGLEVEL_FINE, "very detailed")
    logging.getLogger("mod_ws.test").log(LOGLEVEL_FINE - 1, "too detailed")
    for handler in added_handlers():
        handler.flush()
    text = log.read_text()
    assert "[FINE] mod_ws.test: very detailed" in text
    assert "too detailed" not in text


def test_rotating_file_handler_rotates_past_log_max(tmp_path: Path) -> None:
    log = tmp_path / "rot.log"
    configure_logging(
        parse_options(["-l", str(log), "--log-level", "info", "--log-max", "200", "--log-count", "2"])
    )
    (handler,) = added_handlers()
    assert (handler.maxBytes, handler.backupCount) == (200, 2)
    logger = logging.getLogger("mod_ws.test")
    for number in range(40):
        logger.info("line %03d with some padding to fill the file", number)
    handler.flush()
    assert (tmp_path / "rot.log.1").exists()
    assert (tmp_path / "rot.log.2").exists()
    assert not (tmp_path / "rot.log.3").exists()  # only log_count backups are kept
    assert log.stat().st_size <= 200
    assert "line 039" in log.read_text()


def test_unopenable_log_file_raises_an_oserror_naming_the_file(tmp_path: Path) -> None:
    configure_logging(parse_options([]))
    before = added_handlers()
    missing_dir_log = tmp_path / "no_such_dir" / "x.log"
    with pytest.raises(OSError) as error:
        configure_logging(parse_options(["-l", str(missing_dir_log)]))
    assert str(missing_dir_log) in str(error.value)
    assert "No such file or directory" in str(error.value)
    assert added_handlers() == before  # the working set-up is kept


def test_thread_monitor_logs_live_threads_and_stops(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="mod_ws.thread_monitor")
    monitor = ThreadMonitor(0.05)
    monitor.start()
    try:
        assert monitor.daemon
        deadline = time.monotonic() + 5
        while not caplog.records and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        monitor.stop()
    assert not monitor.is_alive()
    record = caplog.records[0]
    assert record.levelno == logging.INFO
    assert "threads alive" in record.getMessage()
    assert "MainThread" in record.getMessage() and "ThreadMonitor" in record.getMessage()


def test_thread_monitor_stop_is_prompt_with_a_long_interval() -> None:
    monitor = ThreadMonitor(3600)
    monitor.start()
    started = time.monotonic()
    monitor.stop()
    assert not monitor.is_alive()
    assert time.monotonic() - started < 2


def test_thread_monitor_rejects_non_positive_interval() -> None:
    with pytest.raises(ValueError):
        ThreadMonitor(0)


def test_start_thread_monitor_only_for_positive_interval() -> None:
    assert start_thread_monitor(parse_options([])) is None
    assert start_thread_monitor(parse_options(["--thread-monitor-interval-in-sec", "0"])) is None
    monitor = start_thread_monitor(parse_options(["--thread_monitor_interval_in_sec", "1"]))
    assert isinstance(monitor, ThreadMonitor)
    try:
        assert monitor.is_alive()
        assert monitor.interval == 1
        assert monitor in threading.enumerate()
    finally:
        monitor.stop()
    assert not monitor.is_alive()
