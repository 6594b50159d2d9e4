"""Handler files: finding, loading and calling them.

Resource `/a/b` is served by `<root>/a/b_wsh.py`, which defines
`web_socket_do_extra_handshake(request)`, `web_socket_transfer_data(request)` and,
optionally, `web_socket_passive_closing_handshake(request)`. All handlers load once at
start-up; a file that fails is reported and skipped, and the others keep working; a
handshake for its resource is refused with 500 and the reason it failed. With `reload`
(--reload), a handshake first looks at its handler file on disk: a changed file is
loaded again (an error then answers 500, never the old code), a new one appears and a
deleted one is gone.
"""

from __future__ import annotations

import builtins
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from mod_ws.common import (
    HTTP_STATUS_FORBIDDEN,
    HTTP_STATUS_INTERNAL_SERVER_ERROR,
    HTTP_STATUS_NOT_FOUND,
    STATUS_INTERNAL_ENDPOINT_ERROR,
)
from mod_ws.exceptions import (
    AbortedByUserException,
    BadOperationException,
    ConnectionTerminatedException,
    DispatchException,
    HandshakeException,
)
from mod_ws.protocol.closing import (
    check_close_request,
    default_passive_closing_handshake,
    truncate_reason,
)

_logger = logging.getLogger(__name__)

HANDLER_SUFFIX = "_wsh.py"
_DO_EXTRA_HANDSHAKE = "web_socket_do_extra_handshake"
_TRANSFER_DATA = "web_socket_transfer_data"
_PASSIVE_CLOSING_HANDSHAKE = "web_socket_passive_closing_handshake"


@dataclass
class HandlerSuite:
    """The functions one handler file provides."""

    do_extra_handshake: Callable[[Any], None]
    transfer_data: Callable[[Any], None]
    passive_closing_handshake: Callable[[Any], tuple[int | None, str]]
    path: Path


def resource_path(resource: str) -> str:
    """The part of a resource that selects a handler: no query, no fragment."""
    return resource.split("#", 1)[0].split("?", 1)[0]


def _load_handler_file(path: Path, encoding: str | None) -> HandlerSuite:
    """Executes one handler file and picks out its functions; raises on any fault."""
    source = path.read_text(encoding=encoding)
    code = compile(source, str(path), "exec")
    namespace: dict[str, Any] = {
        "__name__": f"mod_ws_handler_{path.stem}",
        "__file__": str(path),
        "__builtins__": builtins,
    }
    exec(code, namespace)  # noqa: S102 - running handler files is the point

    def function(name: str, required: bool) -> Callable | None:
        value = namespace.get(name)
        if value is None and not required:
            return None
        if not callable(value):
            raise DispatchException(f"{name} is not defined" if value is None
                                    else f"{name} is not a function")
        return value

    do_extra_handshake = function(_DO_EXTRA_HANDSHAKE, True)
    transfer_data = function(_TRANSFER_DATA, True)
    passive = function(_PASSIVE_CLOSING_HANDSHAKE, False) or default_passive_closing_handshake
    return HandlerSuite(do_extra_handshake, transfer_data, passive, path)


def _is_within(path: Path, directory: Path) -> bool:
    return path == directory or directory in path.parents


class Dispatcher:
    """Maps resources to handler files and runs their three functions."""

    def __init__(
        self,
        root_dir: str,
        scan_dir: str | None = None,
        allow_handlers_outside_root_dir: bool = True,
        handler_encoding: str | None = None,
        reload: bool = False,
    ) -> None:
        self._handler_suite_map: dict[str, HandlerSuite] = {}
        # Whether a handler's exception is named in its 1011 close (--no-error-details).
        self.error_details = True
        # Resources whose handler file failed to load, with the reason.
        self._load_failures: dict[str, str] = {}
        # Each resource's handler file as found (an alias: the resource it serves as).
        self._sources: dict[str, str] = {}
        self._source_warnings: list[str] = []
        root = Path(root_dir)
        if not root.is_dir():
            raise DispatchException(f"handler root {root_dir!r} is not a directory")
        scan = Path(scan_dir) if scan_dir else root
        if not scan.is_dir():
            raise DispatchException(f"scan directory {scan_dir!r} is not a directory")
        real_root = root.resolve()
        if not _is_within(scan.resolve(), real_root):
            raise DispatchException(
                f"scan directory {scan_dir!r} is not under the handler root {root_dir!r}"
            )
        self._root = root
        self._real_root = real_root
        self._scan = scan.resolve()
        self._allow_outside = allow_handlers_outside_root_dir
        self._encoding = handler_encoding
        self._reload = reload
        self._reload_lock = threading.Lock()
        # (mtime, size) of each handler file as loaded, for --reload.
        self._stamps: dict[str, tuple[int, int]] = {}
        # Walk from the resolved scan directory so that every path found is spelled
        # under the resolved root, whatever spelling of either the caller used.
        for path in self._handler_files(self._scan, real_root, allow_handlers_outside_root_dir):
            self._load(path)

    def _load(self, path: Path) -> None:
        """Loads one handler file (under the resolved root) for its resource."""
        relative = path.relative_to(self._real_root).as_posix()
        resource = self._resource_of(path)
        self._sources[resource] = relative
        self._load_failures.pop(resource, None)
        try:
            stat = path.stat()
            self._stamps[resource] = (stat.st_mtime_ns, stat.st_size)
            self._handler_suite_map[resource] = _load_handler_file(path, self._encoding)
        except BaseException as e:  # a handler's SystemExit must not stop the server
            if isinstance(e, KeyboardInterrupt):
                raise
            self._handler_suite_map.pop(resource, None)  # never the old code
            reason = f"handler {path} failed to load: {type(e).__name__}: {e}"
            self._load_failures[resource] = " ".join(reason.split())
            self._warn(self._load_failures[resource])

    def _resource_of(self, path: Path) -> str:
        """The resource a handler file (under the resolved root) serves: `/a/b` for
        `a/b_wsh.py`."""
        return "/" + path.relative_to(self._real_root).as_posix()[: -len(HANDLER_SUFFIX)]

    def _refresh(self, resource: str) -> None:
        """--reload: brings `resource`'s handler up to date with its file on disk."""
        source = self._sources.get(resource)
        if source is not None and source.startswith("alias of "):
            target = source[len("alias of "):]
            self._refresh(target)
            suite = self._handler_suite_map.get(target)
            if suite is not None:
                self._handler_suite_map[resource] = suite
            else:
                self._handler_suite_map.pop(resource, None)
            return
        path = self._real_root / (resource.lstrip("/") + HANDLER_SUFFIX)
        if ".." in Path(resource).parts or not _is_within(path.parent.resolve(), self._scan):
            return
        if not self._allow_outside and not _is_within(path.resolve(), self._real_root):
            return
        try:
            stat = path.stat()
        except OSError:
            stat = None
        with self._reload_lock:
            if stat is None:
                if resource in self._stamps:  # deleted: the resource goes away
                    _logger.info("handler %s is gone (--reload)", path)
                    for table in (self._handler_suite_map, self._load_failures, self._sources,
                                  self._stamps):
                        table.pop(resource, None)
                return
            if self._stamps.get(resource) != (stat.st_mtime_ns, stat.st_size):
                _logger.info("loading %s (--reload)", path)
                self._load(path)

    def _refresh_all(self) -> None:
        """--reload: every handler file, as on disk now (for the status page's list)."""
        for resource in list(self._sources):
            self._refresh(resource)
        for path in self._handler_files(self._scan, self._real_root, self._allow_outside):
            self._refresh(self._resource_of(path))

    def _handler_files(self, scan: Path, real_root: Path, allow_outside: bool) -> list[Path]:
        files = []
        visited = set()
        for directory, subdirs, names in os.walk(scan, followlinks=allow_outside):
            # Followed directory symlinks may loop: enter each real directory once.
            real_directory = os.path.realpath(directory)
            if real_directory in visited:
                subdirs.clear()
                continue
            visited.add(real_directory)
            subdirs.sort()
            for name in sorted(names):
                if not name.endswith(HANDLER_SUFFIX):
                    continue
                path = Path(directory) / name
                if not allow_outside and not _is_within(path.resolve(), real_root):
                    self._warn(f"handler {path} skipped: it resolves outside the handler root "
                               "(see --allow-handlers-outside-root-dir)")
                    continue
                files.append(path)
        return files

    def _warn(self, message: str) -> None:
        _logger.warning("%s", message)
        self._source_warnings.append(message)

    def source_warnings(self) -> list[str]:
        """Problems met while loading handler files, one line each."""
        return list(self._source_warnings)

    def resources(self) -> list[str]:
        """The resources that have a handler, sorted."""
        if self._reload:
            self._refresh_all()
        return sorted(self._handler_suite_map)

    def add_resource_path_alias(self, alias_resource_path: str, existing_resource_path: str) -> None:
        """Serves `alias_resource_path` with the handler of an existing resource."""
        if not alias_resource_path.startswith("/"):
            # A request's resource always starts with "/": such an alias could never match.
            raise DispatchException(f"alias {alias_resource_path!r} does not start with '/'")
        suite = self._handler_suite_map.get(existing_resource_path)
        if suite is None:
            raise DispatchException(f"no handler for {existing_resource_path!r} to alias")
        self._handler_suite_map[alias_resource_path] = suite
        self._sources[alias_resource_path] = f"alias of {existing_resource_path}"

    def handler_files(self) -> list[dict[str, str | None]]:
        """Each resource with its handler file, whether it loaded, and why not."""
        if self._reload:
            self._refresh_all()
        return [
            {"resource": resource, "file": source,
             "status": "failed" if resource in self._load_failures else "loaded",
             "error": self._load_failures.get(resource)}
            for resource, source in sorted(self._sources.items())
        ]

    def get_handler_suite(self, resource: str) -> HandlerSuite | None:
        path = resource_path(resource)
        if self._reload:
            self._refresh(path)
        return self._handler_suite_map.get(path)

    def load_failure(self, resource: str) -> str | None:
        """Why the handler file of `resource` failed to load, or None if it did not."""
        return self._load_failures.get(resource_path(resource))

    def _suite(self, request: Any) -> HandlerSuite:
        suite = self.get_handler_suite(request.ws_resource)
        if suite is None:
            failure = self.load_failure(request.ws_resource)
            if failure is not None:
                raise DispatchException(failure, HTTP_STATUS_INTERNAL_SERVER_ERROR)
            raise DispatchException(f"no handler for {request.ws_resource!r}", HTTP_STATUS_NOT_FOUND)
        return suite

    def do_extra_handshake(self, request: Any) -> None:
        """Runs the handler's handshake hook; a failure refuses the handshake (403).

        AbortedByUserException passes through: the connection is dropped unanswered.
        A HandshakeException keeps the status it names.
        """
        suite = self._suite(request)
        try:
            suite.do_extra_handshake(request)
        except (AbortedByUserException, HandshakeException):
            raise
        except Exception as e:
            _logger.warning("%s raised %s: %s", _DO_EXTRA_HANDSHAKE, type(e).__name__, e,
                            exc_info=_logger.isEnabledFor(logging.DEBUG))
            raise HandshakeException(
                f"{_DO_EXTRA_HANDSHAKE} of {request.ws_resource} failed: {e}",
                HTTP_STATUS_FORBIDDEN,
            ) from e

    def transfer_data(self, request: Any) -> None:
        """Runs the handler's session, then closes: 1000 on return, 1011 on an exception."""
        suite = self._suite(request)
        stream = request.ws_stream
        try:
            suite.transfer_data(request)
        except ConnectionTerminatedException as e:
            _logger.debug("connection ended in %s: %s", request.ws_resource, e)
            return
        except AbortedByUserException:
            return
        except Exception as e:
            if isinstance(e, BadOperationException):
                # A handler that calls on after the close (pywebsocket3's example
                # close_wsh.py receives again once the client has closed) is routine:
                # debug, as there.
                _logger.debug("%s of %s: %s", _TRANSFER_DATA, request.ws_resource, e)
            else:
                _logger.exception("%s of %s raised (the session's end line names the peer)",
                                  _TRANSFER_DATA, request.ws_resource)
            try:
                stream.close_connection(STATUS_INTERNAL_ENDPOINT_ERROR, self._error_reason(e))
            except ConnectionTerminatedException:
                pass
            return
        if not request.server_terminated:
            try:
                stream.close_connection()
            except ConnectionTerminatedException:
                pass

    def _error_reason(self, error: Exception) -> str:
        """The 1011 close reason for a handler's exception: its class and message (cut
        to fit the frame by the close handshake), or nothing with --no-error-details."""
        if not self.error_details:
            return ""
        message = " ".join(str(error).split())
        reason = f"{type(error).__name__}: {message}" if message else type(error).__name__
        return truncate_reason(reason).decode("utf-8")

    def passive_closing_handshake(self, request: Any) -> tuple[int | None, str]:
        """The close (code, reason) to answer a client's close with.

        AbortedByUserException passes through: the connection is then dropped without
        an answer (WPT tests an unclean close that way)."""
        suite = self.get_handler_suite(request.ws_resource)
        handler = suite.passive_closing_handshake if suite else default_passive_closing_handshake
        try:
            code, reason = handler(request)
            if code is None:
                if reason:
                    _logger.warning("%s of %s gave a reason without a code: sent none",
                                    _PASSIVE_CLOSING_HANDSHAKE, request.ws_resource)
                return None, ""
            return code, check_close_request(code, reason or "")
        except AbortedByUserException:
            raise
        except BadOperationException as e:  # a code that may not be sent, such as 1005
            _logger.warning("%s of %s: %s; answering 1011 instead", _PASSIVE_CLOSING_HANDSHAKE,
                            request.ws_resource, e)
        except Exception:
            _logger.exception("%s of %s raised", _PASSIVE_CLOSING_HANDSHAKE, request.ws_resource)
        return STATUS_INTERNAL_ENDPOINT_ERROR, ""


def load_handler_map(dispatcher: Dispatcher, map_file: str) -> None:
    """Adds aliases from a map file: `alias existing` per line, `#` comments.

    A line that is malformed or names an unknown resource is logged and skipped.
    """
    path = Path(map_file)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise DispatchException(f"cannot read handler map file {map_file!r}: {e}") from None
    for number, line in enumerate(lines, 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2:
            _logger.warning("%s line %d: expected 'alias existing', got %r", map_file, number, line)
            continue
        try:
            dispatcher.add_resource_path_alias(parts[0], parts[1])
        except DispatchException as e:
            _logger.warning("%s line %d: %s", map_file, number, e)


__all__ = ["DispatchException", "Dispatcher", "HandlerSuite", "load_handler_map"]
