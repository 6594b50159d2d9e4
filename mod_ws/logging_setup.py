"""Logging set-up from the parsed options, and the optional thread monitor.

The server is threaded and long-running in test farms, so logs may go to a rotating
file instead of stderr, and a monitor can report the live threads periodically to
help spot handlers that never return.
"""

from __future__ import annotations

import argparse
import json
import logging
import logging.handlers
import threading

from mod_ws.common import LOGLEVEL_FINE

logging.addLevelName(LOGLEVEL_FINE, "FINE")

LOG_FORMAT = "[%(asctime)s] [%(levelname)s] %(name)s: %(message)s"
DEFLATE_LOGGER_NAME = "mod_ws.deflate"
# --log-frames logs here, at INFO, whatever --log-level is (mod_ws.server.frame_trace).
FRAMES_LOGGER_NAME = "mod_ws.frames"
THREAD_MONITOR_LOGGER_NAME = "mod_ws.thread_monitor"

_LEVELS = {
    "fine": LOGLEVEL_FINE,
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}

# Handlers configure_logging() put on the root logger, so that a second call
# replaces them instead of logging every record twice.
_installed_handlers: list[logging.Handler] = []
_install_lock = threading.Lock()


class JsonFormatter(logging.Formatter):
    """One JSON object per record and line, for harnesses that parse logs: time, level,
    logger, message, the traceback if any, and the fields a record carries in
    `extra={"fields": {...}}` (the session's end line carries peer, resource, close
    codes and counts)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", None) or {})
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class LogFileError(OSError):
    """The log file could not be opened; the message names the file and the reason."""


def level_from_name(name: str) -> int:
    """Translate a --log-level word (pywebsocket3 spelling, including 'fine') to a level."""
    try:
        return _LEVELS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown log level {name!r} (choose from {', '.join(_LEVELS)})") from None


def _make_handler(options: argparse.Namespace) -> logging.Handler:
    if not options.log_file:
        return logging.StreamHandler()
    try:
        return logging.handlers.RotatingFileHandler(
            options.log_file,
            maxBytes=options.log_max,
            backupCount=options.log_count,
            encoding="utf-8",
        )
    except OSError as exc:
        raise LogFileError(f"cannot open log file {options.log_file!r}: {exc.strerror or exc}") from exc


def configure_logging(options: argparse.Namespace) -> None:
    """Route log records as the options ask; safe to call more than once.

    Raises LogFileError (an OSError) naming the file if --log-file cannot be opened,
    and ValueError for an unknown level name; the previous set-up is then left as is.
    """
    root_level = level_from_name(options.log_level)
    deflate_level = level_from_name(options.deflate_log_level)
    handler = _make_handler(options)
    json_format = getattr(options, "log_format", "text") == "json"
    handler.setFormatter(JsonFormatter() if json_format else logging.Formatter(LOG_FORMAT))

    root = logging.getLogger()
    with _install_lock:
        for old in _installed_handlers:
            root.removeHandler(old)
            old.close()
        _installed_handlers[:] = [handler]
        root.addHandler(handler)
        root.setLevel(root_level)
    logging.getLogger(DEFLATE_LOGGER_NAME).setLevel(deflate_level)
    logging.getLogger(FRAMES_LOGGER_NAME).setLevel(
        logging.INFO if getattr(options, "log_frames", False) else logging.NOTSET)


class ThreadMonitor(threading.Thread):
    """Daemon thread logging, at INFO, how many threads are alive and their names."""

    def __init__(self, interval: float) -> None:
        if interval <= 0:
            raise ValueError(f"thread monitor interval must be positive, got {interval}")
        super().__init__(name="ThreadMonitor", daemon=True)
        self.interval = interval
        self._stopping = threading.Event()
        self._logger = logging.getLogger(THREAD_MONITOR_LOGGER_NAME)

    def run(self) -> None:
        # Event.wait rather than sleep, so stop() takes effect at once.
        while not self._stopping.wait(self.interval):
            threads = threading.enumerate()
            names = ", ".join(thread.name for thread in threads)
            self._logger.info("%d threads alive: %s", len(threads), names)

    def stop(self, timeout: float | None = 5.0) -> None:
        """Ask the monitor to end and wait (up to timeout seconds) until it has."""
        self._stopping.set()
        if self.is_alive() and self is not threading.current_thread():
            self.join(timeout)


def start_thread_monitor(options: argparse.Namespace) -> ThreadMonitor | None:
    """Start a ThreadMonitor if --thread-monitor-interval-in-sec is positive."""
    interval = options.thread_monitor_interval_in_sec
    if interval is None or interval <= 0:
        return None
    monitor = ThreadMonitor(interval)
    monitor.start()
    return monitor
