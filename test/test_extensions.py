"""Unit tests of permessage-deflate negotiation (mod_ws.extensions, RFC 7692 section 7.1).

Offers are parsed with mod_ws.common.parse_extensions exactly as the handshake does,
fed to get_extension_processor, and the answer formatted with format_extension. The
transforms negotiate returns are installed, as the accept does, on a small stand-in
stream that records what enable_compression received and puts the inflater on a real
MessageAssembler.
"""

from __future__ import annotations

import pytest

from mod_ws.common import format_extension, format_extensions, parse_extensions
from mod_ws.extensions import (
    PerMessageDeflateExtensionProcessor,
    get_extension_processor,
    negotiate,
)
from mod_ws.protocol.deflate import MessageDeflater, MessageInflater
from mod_ws.protocol.messages import MessageAssembler

RSV1 = 0x40


class RecordingStream:
    """Stand-in for mod_ws.stream.Stream: what negotiation may touch, recorded."""

    def __init__(self, max_message_size: int = 1 << 20) -> None:
        self.assembler = MessageAssembler(max_message_size=max_message_size)
        self.compression: list[tuple[MessageDeflater | None, MessageInflater]] = []

    def enable_compression(self, deflater, inflater) -> None:
        self.compression.append((deflater, inflater))
        self.assembler.enable_inflate(inflater)


def negotiate_on(processors, stream: RecordingStream):
    """negotiate(), with the transforms it returns installed on `stream` as
    mod_ws.server.accept does; returns the accepted extension list."""
    accepted, compression = negotiate(processors, stream.assembler.max_message_size)
    if compression is not None:
        stream.enable_compression(*compression)
    return accepted


def processor_for(offer: str) -> PerMessageDeflateExtensionProcessor:
    (extension,) = parse_extensions(offer)
    processor = get_extension_processor(extension)
    assert isinstance(processor, PerMessageDeflateExtensionProcessor)
    return processor


def response_for(processor) -> str | None:
    response = processor.get_extension_response()
    return None if response is None else format_extension(response)


def accept(offer: str, **controls) -> tuple[str | None, RecordingStream]:
    """Negotiates one offer (after applying handler controls); returns (response, stream)."""
    processor = processor_for(offer)
    for name, value in controls.items():  # handler controls, e.g. set_active=False
        getattr(processor, name)(value)
    stream = RecordingStream()
    accepted = negotiate_on([processor], stream)
    return (format_extensions(accepted) if accepted else None), stream


# --- offer → response table ------------------------------------------------------------

PD = "permessage-deflate"

NEGOTIATION_TABLE = [
    # (id, offer, expected response or None for declined)
    ("plain", PD, PD),
    ("client_max_window_bits-no-value", f"{PD}; client_max_window_bits", PD),
    ("client_max_window_bits=10", f"{PD}; client_max_window_bits=10", PD),
    ("server_no_context_takeover", f"{PD}; server_no_context_takeover",
     f"{PD}; server_no_context_takeover"),
    ("client_no_context_takeover-offered", f"{PD}; client_no_context_takeover", PD),
    ("server_max_window_bits=10", f"{PD}; server_max_window_bits=10", f"{PD}; server_max_window_bits=10"),
    ("server_max_window_bits=15", f"{PD}; server_max_window_bits=15", f"{PD}; server_max_window_bits=15"),
    ("server_max_window_bits=9", f"{PD}; server_max_window_bits=9", f"{PD}; server_max_window_bits=9"),
    ("server_max_window_bits=8", f"{PD}; server_max_window_bits=8", f"{PD}; server_max_window_bits=8"),
    ("server_max_window_bits-quoted", f'{PD}; server_max_window_bits="10"',
     f"{PD}; server_max_window_bits=10"),
    ("all-server-params",
     f"{PD}; server_no_context_takeover; server_max_window_bits=12; client_max_window_bits",
     f"{PD}; server_max_window_bits=12; server_no_context_takeover"),
    ("server_max_window_bits=16", f"{PD}; server_max_window_bits=16", None),
    ("server_max_window_bits=7", f"{PD}; server_max_window_bits=7", None),
    ("server_max_window_bits=08-leading-zero", f"{PD}; server_max_window_bits=08", None),
    ("server_max_window_bits=abc", f"{PD}; server_max_window_bits=abc", None),
    ("server_max_window_bits-no-value", f"{PD}; server_max_window_bits", None),
    ("client_max_window_bits=16", f"{PD}; client_max_window_bits=16", None),
    ("client_max_window_bits=7", f"{PD}; client_max_window_bits=7", None),
    ("unknown-parameter", f"{PD}; x_unknown", None),
    ("unknown-parameter-with-value", f"{PD}; server_max_window_bits=10; foo=1", None),
    ("duplicate-flag", f"{PD}; server_no_context_takeover; server_no_context_takeover", None),
    ("duplicate-window-bits", f"{PD}; server_max_window_bits=10; server_max_window_bits=10", None),
    ("value-on-server_no_context_takeover", f"{PD}; server_no_context_takeover=1", None),
    ("value-on-client_no_context_takeover", f"{PD}; client_no_context_takeover=1", None),
]


@pytest.mark.parametrize("offer, expected", [row[1:] for row in NEGOTIATION_TABLE],
                         ids=[row[0] for row in NEGOTIATION_TABLE])
def test_offer_is_answered_with_the_expected_response_or_declined(offer, expected):
    """RFC 7692 section 7.1: the server accepts an offer only with parameters it
    understands, each at most once (7.1 "MUST decline ... duplicate"), with values of
    8..15 without leading zeros (7.1.2.1/7.1.2.2), flags without values (7.1.1); it echoes
    server_no_context_takeover and server_max_window_bits (7.1.1.1, 7.1.2.1) and may leave
    out client_max_window_bits (7.1.2.2). A quoted value is the same value (RFC 6455 9.1)."""
    assert response_for(processor_for(offer)) == expected


def test_declined_offer_installs_nothing_on_the_stream():
    """RFC 7692 section 5: an offer that is not accepted is not in use; RSV1 stays forbidden."""
    response, stream = accept(f"{PD}; server_max_window_bits=7")
    assert response is None
    assert stream.compression == []
    assert not stream.assembler.allowed_rsv_bits & RSV1


def test_accepted_offer_installs_deflater_and_inflater_and_allows_rsv1():
    """RFC 7692 sections 6 and 7.2: once accepted, RSV1 marks compressed messages; the
    inflater's limit is the connection's message size limit."""
    response, stream = accept(PD)
    assert response == PD
    ((deflater, inflater),) = stream.compression
    assert isinstance(deflater, MessageDeflater) and deflater.window_bits == 15
    assert not deflater.no_context_takeover
    assert isinstance(inflater, MessageInflater) and inflater.max_size == 1 << 20
    assert not inflater.no_context_takeover
    assert stream.assembler.allowed_rsv_bits & RSV1


def test_server_max_window_bits_8_is_accepted_but_messages_are_sent_uncompressed():
    """RFC 7692 section 7.1.2.1 lets the client ask for 8; zlib cannot deflate within 256
    bytes, and section 6 lets a sender leave any message uncompressed: so the offer is
    accepted with 8, no deflater is installed, but received messages still inflate."""
    response, stream = accept(f"{PD}; server_max_window_bits=8")
    assert response == f"{PD}; server_max_window_bits=8"
    ((deflater, inflater),) = stream.compression
    assert deflater is None
    assert isinstance(inflater, MessageInflater)
    assert stream.assembler.allowed_rsv_bits & RSV1


@pytest.mark.parametrize("bits", [9, 10, 15])
def test_server_max_window_bits_limits_the_deflater_window(bits):
    """RFC 7692 section 7.1.2.1: the server must not use a larger window than agreed."""
    _, stream = accept(f"{PD}; server_max_window_bits={bits}")
    ((deflater, _),) = stream.compression
    assert deflater.window_bits == bits


def test_server_no_context_takeover_makes_the_deflater_reset_per_message():
    """RFC 7692 section 7.1.1.1: agreed server_no_context_takeover binds the server."""
    _, stream = accept(f"{PD}; server_no_context_takeover")
    ((deflater, _),) = stream.compression
    assert deflater.no_context_takeover


# --- handler controls ---------------------------------------------------------------------


@pytest.mark.parametrize("offer, expected", [
    (f"{PD}; client_max_window_bits", f"{PD}; client_max_window_bits=10"),
    (f"{PD}; client_max_window_bits=9", f"{PD}; client_max_window_bits=9"),
    (f"{PD}; client_max_window_bits=12", f"{PD}; client_max_window_bits=10"),
    (f"{PD}; client_max_window_bits=10", f"{PD}; client_max_window_bits=10"),
], ids=["offered-without-value", "offered-9-smaller", "offered-12-larger", "offered-10-equal"])
def test_set_client_max_window_bits_answers_with_the_smaller_of_handler_and_offer(offer, expected):
    """RFC 7692 section 7.1.2.2: the server may answer client_max_window_bits with a value
    no larger than the one the client offered (any 8..15 when offered without a value)."""
    response, _ = accept(offer, set_client_max_window_bits=10)
    assert response == expected


def test_set_client_max_window_bits_declines_when_the_client_did_not_offer_it():
    """RFC 7692 section 7.1.2.2: client_max_window_bits must not appear in a response to
    an offer without it, so the server declines rather than send it."""
    response, stream = accept(PD, set_client_max_window_bits=10)
    assert response is None
    assert stream.compression == []


def test_set_client_max_window_bits_rejects_values_outside_8_to_15():
    """RFC 7692 section 7.1.2.2: the value is 8..15."""
    processor = processor_for(f"{PD}; client_max_window_bits")
    for bits in (7, 16):
        with pytest.raises(ValueError):
            processor.set_client_max_window_bits(bits)


def test_set_client_no_context_takeover_adds_it_to_the_response_and_resets_the_inflater():
    """RFC 7692 section 7.1.1.2: the server may add client_no_context_takeover even if
    the client did not offer it; the server then need not keep the client's window."""
    response, stream = accept(PD, set_client_no_context_takeover=True)
    assert response == f"{PD}; client_no_context_takeover"
    ((_, inflater),) = stream.compression
    assert inflater.no_context_takeover


def test_set_active_false_declines_the_offer():
    """RFC 7692 section 5: a server may decline an offer it does not want to use."""
    response, stream = accept(PD, set_active=False)
    assert response is None
    assert stream.compression == []


def test_disable_outgoing_compression_accepts_with_the_deflater_switched_off():
    """RFC 7692 section 6: after agreeing permessage-deflate the server may still send
    uncompressed messages; it must keep inflating the client's compressed ones. The
    deflater stays, switched off, so the handler can switch it back on later."""
    processor = processor_for(PD)
    processor.disable_outgoing_compression()
    stream = RecordingStream()
    (response,) = negotiate_on([processor], stream)
    assert format_extension(response) == PD
    ((deflater, inflater),) = stream.compression
    assert deflater is not None and not deflater.enabled
    assert isinstance(inflater, MessageInflater)
    processor.enable_outgoing_compression()
    assert deflater.enabled


def test_deflate_processor_is_named_deflate_as_in_pywebsocket3():
    """Handlers written for pywebsocket3 find the processor by `name() == "deflate"`."""
    assert processor_for(PD).name() == "deflate"


def test_set_bfinal_makes_the_deflater_end_messages_with_a_final_block():
    """RFC 7692 section 7.2.3.4: the server may end a message with a BFINAL block."""
    _, stream = accept(PD, set_bfinal=True)
    ((deflater, _),) = stream.compression
    assert deflater.bfinal


# --- negotiate() across several offers ------------------------------------------------------


def test_negotiate_accepts_only_the_first_acceptable_of_several_offers():
    """RFC 7692 section 5 / RFC 6455 section 9.1: offers are alternatives in order of
    preference; the server accepts at most one permessage-deflate, the first it can."""
    offers = parse_extensions(f"{PD}; server_max_window_bits=7, {PD}; server_no_context_takeover, {PD}")
    processors = [get_extension_processor(o) for o in offers]
    stream = RecordingStream()
    accepted = negotiate_on(processors, stream)
    assert [format_extension(a) for a in accepted] == [f"{PD}; server_no_context_takeover"]
    assert [p.is_active() for p in processors] == [False, True, False]
    assert len(stream.compression) == 1
    assert stream.compression[0][0].no_context_takeover


def test_negotiate_with_two_acceptable_offers_accepts_the_first():
    """RFC 7692 section 5: the first acceptable offer wins, the later one is not used."""
    offers = parse_extensions(f"{PD}; server_max_window_bits=10, {PD}")
    processors = [get_extension_processor(o) for o in offers]
    stream = RecordingStream()
    accepted = negotiate_on(processors, stream)
    assert [format_extension(a) for a in accepted] == [f"{PD}; server_max_window_bits=10"]
    assert len(stream.compression) == 1


def test_handler_deactivating_the_first_offer_lets_the_next_one_be_accepted():
    """RFC 7692 section 5: the server picks among the offers; a handler that rejects the
    first (set_active(False)) gets the next acceptable one."""
    offers = parse_extensions(f"{PD}; server_no_context_takeover, {PD}; server_max_window_bits=11")
    processors = [get_extension_processor(o) for o in offers]
    processors[0].set_active(False)
    stream = RecordingStream()
    accepted = negotiate_on(processors, stream)
    assert [format_extension(a) for a in accepted] == [f"{PD}; server_max_window_bits=11"]
    assert stream.compression[0][0].window_bits == 11


def test_negotiate_with_no_processors_accepts_nothing():
    """RFC 6455 section 9.1: without an accepted extension no header is sent."""
    stream = RecordingStream()
    assert negotiate_on([], stream) == []
    assert stream.compression == []


@pytest.mark.parametrize("name", ["x-webkit-deflate-frame", "deflate-frame", "permessage-gzip", "foo"])
def test_unknown_extension_gets_no_processor(name):
    """RFC 6455 section 9.1: the server ignores extensions it does not implement."""
    (offer,) = parse_extensions(f"{name}; max_window_bits=10")
    assert get_extension_processor(offer) is None


def test_response_parameters_come_in_pywebsocket3s_order():
    """Chromium's permessage-deflate-unsolicited-negotiation-response test compares the
    header literally: server_max_window_bits, server_no_context_takeover,
    client_max_window_bits, client_no_context_takeover."""
    offer = parse_extensions(f"{PD}; client_max_window_bits; server_no_context_takeover; "
                             "server_max_window_bits=10")[0]
    processor = get_extension_processor(offer)
    processor.set_client_no_context_takeover(True)
    processor.set_client_max_window_bits(10)
    assert format_extensions([processor.get_extension_response()]) == (
        f"{PD}; server_max_window_bits=10; server_no_context_takeover; "
        "client_max_window_bits=10; client_no_context_takeover")
