"""Extension processors: permessage-deflate negotiation (RFC 7692 section 7.1).

One processor is made per offer the client sent and handed to the handler as
`request.ws_extension_processors` before the handshake is answered. The handler may
steer a processor (`set_client_max_window_bits`, `set_client_no_context_takeover`,
`set_bfinal`, `disable_outgoing_compression`), deactivate it (`set_active(False)`) or
remove it from the list to decline. Then the first acceptable offer of each extension
is accepted; an offer whose parameters are unknown, repeated or out of range is
declined, never answered with a response the client could not accept. An accepted
processor makes the connection's transforms (mod_ws.protocol.deflate), given the
limits they enforce.
"""

from __future__ import annotations

import logging
import re
from typing import Optional

from mod_ws.common import PERMESSAGE_DEFLATE_EXTENSION, ExtensionParameter
from mod_ws.protocol.deflate import (
    MAX_WINDOW_BITS,
    MIN_ZLIB_DEFLATE_WINDOW_BITS,
    MessageDeflater,
    MessageInflater,
)

_logger = logging.getLogger("mod_ws.deflate")

SERVER_NO_CONTEXT_TAKEOVER = "server_no_context_takeover"
CLIENT_NO_CONTEXT_TAKEOVER = "client_no_context_takeover"
SERVER_MAX_WINDOW_BITS = "server_max_window_bits"
CLIENT_MAX_WINDOW_BITS = "client_max_window_bits"

# RFC 7692 section 7.1.2: a decimal 8..15 without leading zeros.
_WINDOW_BITS = re.compile(r"(8|9|1[0-5])\Z")

# What an accepted permessage-deflate installs on a connection: the deflater for
# outgoing messages (None: they go out uncompressed) and the inflater for received ones.
Compression = tuple[Optional[MessageDeflater], MessageInflater]


class ExtensionProcessorInterface:
    """What the handshake asks of every extension processor."""

    def __init__(self, request: ExtensionParameter) -> None:
        self._request = request
        self._active = True

    def request(self) -> ExtensionParameter:
        """The client's offer this processor answers."""
        return self._request

    def name(self) -> str:
        return self._request.name()

    def set_active(self, active: bool) -> None:
        self._active = active

    def is_active(self) -> bool:
        return self._active

    def check_consistency_with_other_processors(self, processors: list) -> None:
        """Deactivates this processor if an earlier accepted one has the same name."""

    def get_extension_response(self) -> ExtensionParameter | None:
        """The accepted parameters, or None to decline the offer."""
        raise NotImplementedError

    def transforms(self, max_message_size: int) -> Compression:
        """The accepted extension's transforms for one connection, bounded by
        `max_message_size` (the most bytes one received message may become)."""
        raise NotImplementedError


def _parse_offer(offer: ExtensionParameter) -> dict[str, str | None] | str:
    """The offer's parameters by name, or a reason to decline it."""
    parameters: dict[str, str | None] = {}
    for name, value in offer.get_parameters():
        if name in parameters:
            return f"parameter {name} appears twice"
        if name in (SERVER_NO_CONTEXT_TAKEOVER, CLIENT_NO_CONTEXT_TAKEOVER):
            if value is not None:
                return f"{name} takes no value"
        elif name == SERVER_MAX_WINDOW_BITS:
            if value is None or not _WINDOW_BITS.match(value):
                return f"{name} needs a value from 8 to 15, got {value!r}"
        elif name == CLIENT_MAX_WINDOW_BITS:
            if value is not None and not _WINDOW_BITS.match(value):
                return f"{name} must be 8 to 15 when given, got {value!r}"
        else:
            return f"unknown parameter {name}"
        parameters[name] = value
    return parameters


class PerMessageDeflateExtensionProcessor(ExtensionProcessorInterface):
    """Negotiates permessage-deflate and installs its transforms on the stream."""

    def __init__(self, request: ExtensionParameter) -> None:
        super().__init__(request)
        self._client_max_window_bits: int | None = None
        self._client_no_context_takeover = False
        self._bfinal = False
        self._compress_outgoing = True
        self._response: ExtensionParameter | None = None
        self._server_window_bits = MAX_WINDOW_BITS
        self._server_no_context_takeover = False
        # The connection's deflater once accepted: the controls below reach it, so a
        # handler may switch compression during web_socket_transfer_data too.
        self._deflater: MessageDeflater | None = None

    def name(self) -> str:
        # "deflate", as pywebsocket3 answers: handlers look processors up by this name.
        return "deflate"

    def check_consistency_with_other_processors(self, processors: list) -> None:
        for other in processors:
            if other is self:
                return
            if other is not None and other.is_active() and other.name() == self.name():
                self.set_active(False)
                return

    # Handler controls (pywebsocket3 names).

    def set_client_max_window_bits(self, value: int | None) -> None:
        """Asks the client to compress with at most 2**value bytes of window."""
        if value is not None and not 8 <= value <= MAX_WINDOW_BITS:
            raise ValueError(f"client_max_window_bits {value} not in 8..15")
        self._client_max_window_bits = value

    def set_client_no_context_takeover(self, value: bool) -> None:
        """Asks the client to compress every message with a fresh window."""
        self._client_no_context_takeover = value

    def set_bfinal(self, value: bool) -> None:
        """Ends every outgoing message with a final deflate block (BFINAL=1)."""
        self._bfinal = value
        if self._deflater is not None:
            self._deflater.bfinal = value

    def enable_outgoing_compression(self) -> None:
        """Compresses outgoing messages again (not possible with server_max_window_bits=8)."""
        self._compress_outgoing = True
        if self._deflater is not None:
            self._deflater.enabled = True

    def disable_outgoing_compression(self) -> None:
        """Sends messages uncompressed (RSV1 clear) while still inflating received ones."""
        self._compress_outgoing = False
        if self._deflater is not None:
            self._deflater.enabled = False

    # Negotiation.

    def get_extension_response(self) -> ExtensionParameter | None:
        if not self._active:
            return None
        parameters = _parse_offer(self._request)
        if isinstance(parameters, str):
            _logger.info("declined permessage-deflate offer: %s", parameters)
            return None
        # Parameters in pywebsocket3's order: browser tests compare the header literally.
        response = ExtensionParameter(PERMESSAGE_DEFLATE_EXTENSION)
        if SERVER_MAX_WINDOW_BITS in parameters:
            bits = int(parameters[SERVER_MAX_WINDOW_BITS])
            response.add_parameter(SERVER_MAX_WINDOW_BITS, str(bits))
            self._server_window_bits = bits
            if bits < MIN_ZLIB_DEFLATE_WINDOW_BITS:
                # zlib cannot deflate within a 256-byte window; uncompressed messages
                # are always allowed (RFC 7692 section 6), so accept and send those.
                _logger.info("server_max_window_bits=8: sending messages uncompressed")
                self._compress_outgoing = False
        if SERVER_NO_CONTEXT_TAKEOVER in parameters:
            self._server_no_context_takeover = True
            response.add_parameter(SERVER_NO_CONTEXT_TAKEOVER, None)
        if self._client_max_window_bits is not None:
            if CLIENT_MAX_WINDOW_BITS not in parameters:
                # RFC 7692 section 7.1.2.2: only allowed when the client offered it.
                _logger.info("declined permessage-deflate offer: handler set "
                             "client_max_window_bits but the client did not offer it")
                return None
            offered = parameters[CLIENT_MAX_WINDOW_BITS]
            bits = self._client_max_window_bits
            if offered is not None:
                bits = min(bits, int(offered))
            response.add_parameter(CLIENT_MAX_WINDOW_BITS, str(bits))
        if self._client_no_context_takeover:
            response.add_parameter(CLIENT_NO_CONTEXT_TAKEOVER, None)
        self._response = response
        return response

    def transforms(self, max_message_size: int) -> Compression:
        if self._server_window_bits >= MIN_ZLIB_DEFLATE_WINDOW_BITS:
            self._deflater = MessageDeflater(self._server_window_bits,
                                             self._server_no_context_takeover)
            self._deflater.bfinal = self._bfinal
            self._deflater.enabled = self._compress_outgoing
        return self._deflater, MessageInflater(max_message_size, self._client_no_context_takeover)


_available_processors = {PERMESSAGE_DEFLATE_EXTENSION: PerMessageDeflateExtensionProcessor}


def get_extension_processor(extension_request: ExtensionParameter) -> ExtensionProcessorInterface | None:
    """A processor for a client's offer, or None for an extension mod_ws does not know."""
    processor_class = _available_processors.get(extension_request.name())
    return processor_class(extension_request) if processor_class else None


def negotiate(processors: list, max_message_size: int
              ) -> tuple[list[ExtensionParameter], Compression | None]:
    """Accepts what the (handler-adjusted) processors allow.

    Returns the response's extension list and, if permessage-deflate was accepted, its
    (deflater, inflater) for the connection, the inflater bounded by `max_message_size`.
    """
    accepted = []
    compression = None
    for processor in processors:
        if processor is None:  # a handler may blank out entries to decline them
            continue
        processor.check_consistency_with_other_processors(processors)
        response = processor.get_extension_response()
        if response is None:
            processor.set_active(False)
            continue
        compression = processor.transforms(max_message_size)
        accepted.append(response)
    return accepted, compression


__all__ = [
    "Compression",
    "ExtensionProcessorInterface",
    "PerMessageDeflateExtensionProcessor",
    "get_extension_processor",
    "negotiate",
]
