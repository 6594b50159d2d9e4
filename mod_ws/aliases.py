"""pywebsocket3's package names, answered by mod_ws's modules.

Handler files written for pywebsocket3 begin `from mod_pywebsocket import msgutil`
(Chromium's web tests, older WPT) or `from pywebsocket3 import msgutil` (WPT today).
Once `install()` has run, both names and their public submodules import as the mod_ws
modules of the same name, so the handlers run unchanged and get mod_ws's request and
stream objects. The server installs this before it loads handler files unless
`--no-pywebsocket-imports` is given.

It holds for the whole process, even where the real pywebsocket3 is installed: while
this is installed, `import pywebsocket3` never loads it. Modules of it that were
imported before are dropped from `sys.modules` (a warning says so); objects already
taken from them keep working.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import logging
import sys
import threading
from types import ModuleType

_logger = logging.getLogger(__name__)

PACKAGE_NAMES = ("mod_pywebsocket", "pywebsocket3")

# pywebsocket3's modules that handlers and embedders import, each with the mod_ws module
# that takes its place (pywebsocket3's request_handler, memorizingfile and the like have
# no counterpart: nothing outside pywebsocket3 imports them).
SUBMODULES = {
    "": "mod_ws",
    "common": "mod_ws.common",
    "dispatch": "mod_ws.dispatch",
    "extensions": "mod_ws.extensions",
    "handshake": "mod_ws.handshake",
    "handshake.base": "mod_ws.handshake.base",
    "handshake.hybi": "mod_ws.handshake.hybi",
    "http_header_util": "mod_ws.http_header_util",
    "msgutil": "mod_ws.msgutil",
    "standalone": "mod_ws.standalone",
    "stream": "mod_ws.stream",
    "util": "mod_ws.util",
    "websocket_server": "mod_ws.standalone",
}


def target_of(fullname: str) -> str | None:
    """The mod_ws module that answers an import of `fullname`, or None."""
    for package in PACKAGE_NAMES:
        if fullname == package:
            return SUBMODULES[""]
        if fullname.startswith(package + "."):
            return SUBMODULES.get(fullname[len(package) + 1:])
    return None


class _Loader(importlib.abc.Loader):
    """Hands out the mod_ws module itself, so both names share one module object."""

    def __init__(self, target: str) -> None:
        self._target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        # importlib keeps the module's own __name__ and __spec__ (it sets only missing
        # ones), so the module stays mod_ws's under both names.
        return importlib.import_module(self._target)

    def exec_module(self, module: ModuleType) -> None:
        pass  # already executed under its own name


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: object = None,
                  target: object = None) -> importlib.machinery.ModuleSpec | None:
        mod_ws_name = target_of(fullname)
        if mod_ws_name is None:
            if fullname.split(".", 1)[0] in PACKAGE_NAMES:
                raise ModuleNotFoundError(
                    f"No module named {fullname!r}: mod_ws answers pywebsocket3's "
                    f"{', '.join(sorted(n for n in SUBMODULES if n))} under this name",
                    name=fullname)
            return None
        return importlib.machinery.ModuleSpec(fullname, _Loader(mod_ws_name))


_FINDER = _Finder()
_lock = threading.Lock()


def install() -> None:
    """Makes pywebsocket3's names import as mod_ws's modules, from now on, process-wide."""
    with _lock:
        if _FINDER in sys.meta_path:
            return
        stale = sorted(name for name, module in sys.modules.items()
                       if name.split(".", 1)[0] in PACKAGE_NAMES
                       and not getattr(module, "__name__", "").startswith("mod_ws"))
        for name in stale:
            del sys.modules[name]
        if stale:
            _logger.warning("%s was imported before mod_ws took over its name; handlers "
                            "importing it now get mod_ws's modules", stale[0])
        sys.meta_path.insert(0, _FINDER)


def uninstall() -> None:
    """Undoes install(): the names import whatever is installed under them again."""
    with _lock:
        if _FINDER in sys.meta_path:
            sys.meta_path.remove(_FINDER)
        for name in [name for name in sys.modules if name.split(".", 1)[0] in PACKAGE_NAMES]:
            if getattr(sys.modules[name], "__name__", "").startswith("mod_ws"):
                del sys.modules[name]


def installed() -> bool:
    return _FINDER in sys.meta_path


__all__ = ["PACKAGE_NAMES", "SUBMODULES", "install", "installed", "target_of", "uninstall"]
