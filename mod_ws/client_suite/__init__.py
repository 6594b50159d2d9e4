"""A test suite for WebSocket *clients*: mod_ws breaking the rules on purpose.

Point it at a client to see how the client copes with a server that does not follow
RFC 6455 and RFC 7692: a catalogue of cases (in the manner of a fuzzing server), each
a ws:// resource `/cases/<id>` that sends one thing, valid or not, watches what the
client does and gives a verdict: OK, NON-STRICT, FAILED, INFORMATIONAL or
UNIMPLEMENTED (mod_ws.client_suite.verdicts says exactly when).

    python -m mod_ws.client_suite --client 'python my_client.py {url}'   # run them all
    python -m mod_ws.client_suite --list                                   # the catalogue
    python -m mod_ws -H 127.0.0.1 -p 8880 -d OUT -w "$(python -m mod_ws.client_suite --root)"
                                    # serve them yourself (MOD_WS_CLIENT_SUITE_OUT=OUT for reports)

The convention, as for such suites: the client under test is an echo client. It
connects to `ws://HOST:PORT/cases/<id>?agent=NAME`, sends back every text and binary
message it receives, answers pings, and closes when the server closes (or fails the
connection when the server breaks the protocol). Reports are static files under the
document root: /cases/report (HTML) and /cases/report.json (mod_ws.client_suite.results).

Layout:

- `cases/`: the catalogue by group (framing, pings, reserved_bits, opcodes,
  fragmentation, utf8, closing, limits, handshake, deflate) and `flows.py`, the
  shapes they share;
- `catalogue.py`: Case, the registry, selection by pattern;
- `wire.py`: one case's connection over the server's fault-injection API
  (`request.ws_stream.faults`), with the wire log and the Observation of the client;
- `verdicts.py`: the judging, pure logic;
- `compression.py`: permessage-deflate by hand (the cases make their own responses);
- `handler.py`: what the handler files bind to; `generate.py` writes those files
  into `handlers/cases/`, the handler root;
- `results.py` and `report.py`: the store and its JSON and HTML;
- `runner.py` (and `__main__.py`): the command line.
"""
