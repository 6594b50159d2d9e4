"""Unit tests of the pywebsocket3 helpers handlers import: mod_ws.util and
mod_ws.handshake.hybi."""

from __future__ import annotations

import logging

import pytest

from mod_ws import util
from mod_ws.handshake import hybi

SAMPLE_KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 section 1.3
SAMPLE_ACCEPT = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_pack_byte_gives_one_byte_for_every_value():
    assert b"".join(util.pack_byte(i) for i in range(256)) == bytes(range(256))


def test_pack_byte_refuses_a_value_outside_a_byte():
    with pytest.raises(ValueError):
        util.pack_byte(256)


def test_hexify_gives_two_lowercase_digits_per_byte_separated_by_spaces():
    assert util.hexify(b"\x00\x7f\xffab") == "00 7f ff 61 62"
    assert util.hexify(b"") == ""


class Sample:
    pass


def test_get_class_logger_is_named_for_module_and_class():
    logger = util.get_class_logger(Sample())
    assert isinstance(logger, logging.Logger)
    assert logger.name == f"{__name__}.Sample"


def test_prepend_message_to_exception_puts_the_message_first():
    error = ValueError("bad value")
    util.prepend_message_to_exception("while parsing: ", error)
    assert str(error) == "while parsing: bad value"


def test_hybi_compute_accept_takes_and_gives_bytes():
    """RFC 6455 section 1.3's worked example, in pywebsocket3's bytes convention."""
    assert hybi.compute_accept(SAMPLE_KEY.encode()) == SAMPLE_ACCEPT


def test_hybi_compute_accept_from_unicode_takes_the_header_string():
    assert hybi.compute_accept_from_unicode(SAMPLE_KEY) == SAMPLE_ACCEPT


def test_hybi_module_imports_as_pywebsocket3_handlers_write_it():
    from mod_ws.handshake.hybi import compute_accept_from_unicode

    assert compute_accept_from_unicode is hybi.compute_accept_from_unicode
