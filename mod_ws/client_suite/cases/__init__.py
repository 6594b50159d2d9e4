"""The catalogue, one module per group; importing this package registers every case
(mod_ws.client_suite.case.define). `flows` holds the shapes the cases share."""

from mod_ws.client_suite.cases import (  # noqa: F401 - each registers its group
    closing,
    deflate,
    fragmentation,
    framing,
    handshake,
    limits,
    opcodes,
    pings,
    reserved_bits,
    utf8,
)
