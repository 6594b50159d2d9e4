"""Unit tests of mod_ws.aliases: pywebsocket3's package names answered by mod_ws."""

from __future__ import annotations

import importlib
import sys

import pytest

from mod_ws import aliases


@pytest.fixture
def installed():
    was_installed = aliases.installed()
    aliases.install()
    yield
    if not was_installed:
        aliases.uninstall()


@pytest.mark.parametrize("package", aliases.PACKAGE_NAMES)
@pytest.mark.parametrize("submodule", sorted(aliases.SUBMODULES))
def test_every_listed_module_imports_as_the_mod_ws_module_itself(installed, package, submodule):
    name = f"{package}.{submodule}" if submodule else package
    assert importlib.import_module(name) is importlib.import_module(aliases.SUBMODULES[submodule])


def test_from_imports_give_mod_ws_objects(installed):
    from mod_pywebsocket import msgutil
    from pywebsocket3.stream import Stream

    import mod_ws.msgutil
    import mod_ws.server.session

    assert msgutil is mod_ws.msgutil
    assert Stream is mod_ws.server.session.Stream


def test_a_module_without_a_counterpart_names_what_is_provided(installed):
    with pytest.raises(ModuleNotFoundError, match="memorizingfile.*msgutil") as info:
        importlib.import_module("pywebsocket3.memorizingfile")
    assert info.value.name == "pywebsocket3.memorizingfile"


def test_uninstall_gives_the_names_back(installed):
    importlib.import_module("mod_pywebsocket.msgutil")
    aliases.uninstall()
    try:
        assert "mod_pywebsocket" not in sys.modules
        assert aliases.target_of("mod_pywebsocket.msgutil") == "mod_ws.msgutil"
        with pytest.raises(ModuleNotFoundError):
            importlib.import_module("mod_pywebsocket")
    finally:
        aliases.install()
