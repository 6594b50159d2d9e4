"""The helpers of pywebsocket3's `util` module that handlers call.

Handlers written for pywebsocket3 often import `util` beside `msgutil` and `common`
(many import it and use nothing); this module lets them load and run unchanged.
"""

from __future__ import annotations

import logging


def pack_byte(value: int) -> bytes:
    """One byte with the value 0-255, as bytes."""
    return bytes((value,))


def hexify(data: bytes) -> str:
    """The bytes as two-digit hexadecimal numbers separated by spaces ("61 62"), for logs."""
    return data.hex(" ")


def get_class_logger(instance: object) -> logging.Logger:
    """The logger named after the module and class of `instance`."""
    cls = type(instance)
    return logging.getLogger(f"{cls.__module__}.{cls.__name__}")


def prepend_message_to_exception(message: str, exc: BaseException) -> None:
    """Puts `message` in front of the exception's text, for context when it is re-raised."""
    exc.args = (message + str(exc),)
