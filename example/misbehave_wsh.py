"""Breaks the rules on request, to see how a client copes: the fault-injection API.

Send one of these words as a text message; the server answers with the fault:

  invalid-utf8   a text message whose payload is not UTF-8 (a client must fail, 1007)
  reserved-bits  a text frame with RSV2 set, nothing negotiated (fail, 1002)
  opcode-3       a frame with reserved opcode 3 (fail, 1002)
  big-ping       a ping of 126 bytes, over the 125 allowed (fail, 1002)
  bad-close      a close with code 999 and a 130-byte reason (fail, 1002)
  slow           "slow" trickled one byte each 100 ms (just slow)
  drop           TCP closed with no close frame (the client sees 1006)
  reset          the connection reset (RST)

Any other message is echoed. Every call is on `request.ws_stream.faults`
(`pydoc mod_ws`, "Misbehaving on purpose"). Try it from the console
(http://127.0.0.1:8880/console.html, address ws://127.0.0.1:8880/misbehave).
"""

from mod_ws.common import OPCODE_TEXT

FAULTS = {
    "invalid-utf8": lambda f: f.send_text_bytes(b"caf\xc3"),
    "reserved-bits": lambda f: f.send_frame(OPCODE_TEXT, b"odd bits", rsv2=True),
    "opcode-3": lambda f: f.send_frame(0x3, b"what is this"),
    "big-ping": lambda f: f.send_ping(b"p" * 126),
    "bad-close": lambda f: f.send_close(999, "x" * 130),
    "slow": lambda f: f.trickle_frame(OPCODE_TEXT, "slow", bytes_per_second=10),
    "drop": lambda f: f.drop(),
    "reset": lambda f: f.reset(),
}


def web_socket_do_extra_handshake(request):
    pass


def web_socket_transfer_data(request):
    stream = request.ws_stream
    while True:
        message = stream.receive_message()
        if message is None:
            return
        fault = FAULTS.get(message) if isinstance(message, str) else None
        if fault is None:
            stream.send_message(message, binary=isinstance(message, bytes))
            continue
        fault(stream.faults)
        if stream.failed or request.server_terminated:
            return  # after a drop, a reset or a close of our own: nothing more to send
