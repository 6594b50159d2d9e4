"""mod_ws: a standalone WebSocket (RFC 6455) test server with pywebsocket3-style handlers.

Running
-------
    python -m mod_ws -p 8880 -d example          # or the `mod_ws` console script
    python -m mod_ws --help                      # every option
    python -m mod_ws --config server.ini         # `key = value` lines; flags as `tls = true`
    python -m mod_ws -p 8443 -d example --tls -k cert/server-key.pem -c cert/server.pem

Static files are served from the document root (-d); WebSocket handlers are loaded
from the handler root (-w, default: the document root) when the server starts, and
with --reload again before a handshake whenever their file changed on disk.

Embedding and pytest
--------------------
In a Python program or test, `mod_ws.Server(document_root, **options)` runs the same
server on a background thread. The options are the command line's as keywords (their
dests, or `host`, `handlers`, `tls`); it listens on 127.0.0.1 and a free port unless
told otherwise. `.port` and `.url(path)` say where; `stop()` (or leaving the `with`
block) closes open WebSockets with 1001 and joins its threads. With mod_ws installed,
pytest gets two fixtures: `mod_ws_server` (a built-in /echo, or the handler root of
`@pytest.mark.mod_ws(root=...)`) and `mod_ws_server_factory`, which also takes handler
sources to write into the test's `tmp_path`:

    with mod_ws.Server("example", max_message_size=1 << 20) as server:
        connect(server.url("/echo"))            # ws://127.0.0.1:<port>/echo

    def test_hello(mod_ws_server_factory):
        server = mod_ws_server_factory(handlers={"hi": HANDLER_SOURCE})  # serves /hi

Writing a handler
-----------------
A WebSocket request for resource `/a/b` (the query string is ignored when choosing the
handler) is served by the file `<handler root>/a/b_wsh.py`, which defines:

    web_socket_do_extra_handshake(request)
        Called before the handshake is accepted. Inspect `request.ws_origin`,
        `request.headers_in`, `request.ws_requested_protocols` and choose a subprotocol
        by setting `request.ws_protocol` (it must be one the client offered). Raise
        `mod_ws.handshake.HandshakeException(message, status)` to refuse with that HTTP
        status (any other exception refuses with 403); raise
        `mod_ws.handshake.AbortedByUserException` to drop the connection unanswered.
        Headers appended to `request.extra_headers` go into the 101 response.
        To test how a client treats an odd response, write it yourself with
        `request.connection.write(data)` (`request.connection.read(n)` reads raw
        bytes), then raise AbortedByUserException so the server adds nothing;
        `mod_ws.handshake.hybi.compute_accept_from_unicode(key)` gives a correct
        Sec-WebSocket-Accept value, as bytes.

    web_socket_transfer_data(request)
        The WebSocket session. Use `request.ws_stream` (or the `mod_ws.msgutil`
        helpers):
            receive_message()   str for text, bytes for binary, None once the client
                                has closed (the close is answered for you)
            send_message(msg, end=True, binary=False)
                                end=False sends a fragment; continue with more calls
            send_ping(body)     the pong reaches `request.on_pong_handler` if set
            close_connection(code=1000, reason='')
        When this function returns, the server closes with 1000; if it raises, the
        traceback is logged and the connection is closed with 1011 and a reason
        naming the exception (--no-error-details: none). A protocol
        violation by the client fails the connection with the right close code
        (1002, 1007, 1009) and raises from receive_message.

        Where the closing handshake stands: `request.close_handshake.state`, a
        `mod_ws.protocol.closing.CloseState` (OPEN, CLOSING_BY_US, CLOSING_BY_PEER,
        CLOSED, FAILED). pywebsocket3's `request.server_terminated` (no more frames
        go out) and `request.client_terminated` (no more are read) are views on it.

    web_socket_passive_closing_handshake(request)      (optional)
        Called when the client starts the closing handshake; `request.ws_close_code`
        and `request.ws_close_reason` hold what it sent. Return the (code, reason) to
        answer with, or (None, '') for an empty close frame. Without it the server
        echoes the client's code and reason.

The request object
------------------
What the three functions are given (mod_ws.server.request.WebSocketRequest; pywebsocket3's
names). Set by the server before web_socket_do_extra_handshake:

    ws_resource             the resource asked for, with its query (`/echo?x=1`)
    uri, unparsed_uri       the same (pywebsocket3 spells it three ways)
    method, protocol        GET and 'HTTP/1.1' for an Upgrade; CONNECT and 'HTTP/2'
                            or 'HTTP/3' for an extended CONNECT
    headers_in              the request's header fields: headers_in['Origin'] (None
                            when absent), .get(name, default), .get_all(name), .items()
    ws_origin               the Origin header, or None
    ws_version              13
    ws_requested_protocols  the subprotocols offered (Sec-WebSocket-Protocol), or None
    ws_requested_extensions the extensions offered, as mod_ws.common.ExtensionParameter
    ws_extension_processors one processor per offered extension mod_ws implements
                            (mod_ws.extensions); remove one to decline it, or adjust
                            it (PerMessageDeflateExtensionProcessor.set_bfinal, ...)
    connection              the raw connection: remote_addr and local_addr
                            ((host, port) tuples), write(bytes), read(n)
    extra_headers           (name, value) pairs to add to the 101 response
    is_https()              True over TLS; get_peer_cert() the client's certificate

Chosen by the handler in web_socket_do_extra_handshake, then fixed by the 101:

    ws_protocol             the subprotocol accepted (one the client offered), or None
    ws_extensions           the extensions accepted, as ExtensionParameter objects
    ws_deflate              True when permessage-deflate was accepted

During and after the session:

    ws_stream               the stream (below: receive_message, send_message, ...)
    ws_close_code           the code of the client's close frame (1005: none), or None
    ws_close_reason         its reason (None when the frame had no body)
    close_handshake         where the closing handshake stands (state, sent, received)
    server_terminated       True once the server sends no more frames
    client_terminated       True once no more frames are read from the client
    on_pong_handler         set to a function(request, payload): called with each pong
    on_ping_handler         the same for pings, which the server then leaves
                            unanswered (the handler answers, or not, itself)

Misbehaving on purpose
----------------------
`request.ws_stream.faults` (mod_ws.server.faults.Faults) puts on the wire exactly what
it is told, to see how a client copes with a server that breaks the rules; the safe
API above keeps validating. Each is one call:

    send_frame(opcode, payload=b'', fin=True, rsv1=False, rsv2=False, rsv3=False,
               mask_key=None, length=None)
                        any opcode 0-15, any bits, masked with a 4-byte key or not,
                        a declared length that need not match the payload (2**63 too)
    send_raw(data)      bytes as they are
    send_text_bytes(payload)      a text frame that need not be UTF-8
    send_close(code=None, reason=b'', payload=None)
                        any code (999, 1005, 5000) and reason (over 123 bytes, not
                        UTF-8); the server then sends no close of its own
    send_compressed(message, binary=False, fin=True, window_bits=15)
                        RSV1 and deflated data, negotiated or not, any window
    send_ping(payload), send_pong(payload), ping_flood(count, payload, interval)
                        any size; unsolicited pongs
    pause(seconds), stop_reading(seconds)
    trickle(data, bytes_per_second, chunk=1), trickle_frame(opcode, payload, rate)
    delay_handshake_response(s), trickle_handshake_response(rate, chunk)
                        from web_socket_do_extra_handshake: how the 101 goes out
    ignore_pings(), answer_pings_with(payload)
    shape(latency, jitter, bandwidth)   this connection over a slow link
    drop()              TCP closed with no close frame
    half_close()        FIN: nothing more goes out, the client can still be read
    reset()             an RST (SO_LINGER 0)
    close_and_drop(code, reason)        a close frame, then TCP closed at once
    never_answer_close()                the client's close is read, never answered
    receive_frame(timeout)              the client's next frame as it was sent
                                        (ClientFrame: fin, rsv1-3, opcode, payload,
                                        masked), unjudged; None once TCP closed
    peer_closed(timeout)                whether the client closes TCP in time

A fragmented or oversized control frame, a control frame between fragments or a data
frame after the close are sequences of send_frame calls. mod_ws.client_suite is a
catalogue of such cases for testing a WebSocket client (`python -m mod_ws.client_suite
--client 'CMD {url}'`; `pydoc mod_ws.client_suite`). example/misbehave_wsh.py
shows them; example/raw_handshake_wsh.py writes its own (wrong) 101 with
`request.connection.write` and raises AbortedByUserException so the server adds
nothing.

Close codes
-----------
mod_ws.common names them (RFC 6455 section 7.4): STATUS_NORMAL_CLOSURE 1000,
STATUS_GOING_AWAY 1001 (sent to every session at shutdown), STATUS_PROTOCOL_ERROR 1002,
STATUS_UNSUPPORTED_DATA 1003, STATUS_INVALID_FRAME_PAYLOAD_DATA 1007 (invalid UTF-8),
STATUS_POLICY_VIOLATION 1008, STATUS_MESSAGE_TOO_BIG 1009 (--max-message-size,
--max-frame-size), STATUS_MANDATORY_EXTENSION 1010, STATUS_INTERNAL_ENDPOINT_ERROR 1011
(a handler raised; also --ping-timeout), 1012-1014, and 3000-4999 for applications.
1005 (no code), 1006 (no close frame) and 1015 (TLS) are never sent: they are what an
endpoint reports, so close_connection refuses them. pywebsocket3's shorter names
(STATUS_NORMAL, STATUS_UNSUPPORTED, ...) are there too.

Extension processors
--------------------
For each extension a client offers that mod_ws implements (permessage-deflate, RFC
7692), `request.ws_extension_processors` holds a processor
(mod_ws.extensions.PerMessageDeflateExtensionProcessor). In
web_socket_do_extra_handshake a handler may remove it or call `set_active(False)` (the
extension is declined), ask the client for `set_client_max_window_bits(n)` or
`set_client_no_context_takeover(True)`, end each compressed message's deflate block
with `set_bfinal(True)`, or send uncompressed with `disable_outgoing_compression()`
(`enable_outgoing_compression()` undoes it, also during the session). After the 101,
`request.ws_extensions` holds what was accepted.

The status page
---------------
On a server listening on loopback only (or with --status-page), /_mod_ws/status (HTML
that refreshes itself) and /_mod_ws/status.json show the sessions open now (peer,
resource, carrier (HTTP/1.1, HTTP/2 or HTTP/3), subprotocol, extensions, age, messages
and bytes each way), the latest 100 refusals (status and reason: what a browser's page
is not told) and session ends (codes, reasons, who closed), and each handler file with
whether it loaded and why not. Header values are never kept. --no-status-page turns it off.

Network shaping: --latency MS delays every frame the server sends after the 101
(pipelined, as on a real link), --latency-jitter MS varies each delay by up to ±MS
(order kept, a negative delay counting as 0), --bandwidth BYTES_PER_S paces what is
sent; reads are not shaped. From web_socket_transfer_data a handler shapes its own
connection with `request.ws_stream.faults.shape(latency, jitter, bandwidth)` (seconds,
seconds, bytes per second or None; mod_ws.server.shaping.shape_session); a second call
changes the values. Sends return at once unless 4 MiB are already waiting; what is
queued still goes out before the connection ends.

What the log shows: at --log-level info, one line per session when it ends (peer,
resource, who closed with which code and reason or why it failed, duration,
subprotocol, extensions, messages and bytes each way); at debug, the handshake's
header fields (credentials masked) and each close frame; --log-frames, every frame in
and out; --log-format json, the same as JSON objects, one per line.

Over TLS (`--tls`), `request.is_https()` is True and `request.get_peer_cert()` gives the
client's verified certificate (with `--tls-client-auth`) as a dict of `subject`,
`issuer`, `serial`, `not_before`, `not_after` and `subject_alt_names`, or None.

The same handlers over HTTP/2 and HTTP/3: with --tls --http2 (the mod_ws[h2] extra) the
TLS port offers h2 by ALPN and a WebSocket opens on a stream by extended CONNECT (RFC
8441); with --http3-port PORT (the mod_ws[h3] extra) over QUIC (RFC 9220). A handler
sees the same request, with `request.method` 'CONNECT', `request.protocol` 'HTTP/2' or
'HTTP/3' and Host in headers_in from :authority; it refuses as over HTTP/1.1 (the status
goes on its stream), and several WebSockets share one connection, each on its own
thread, a handler that stops reading stalling only its own stream. The status page and
static files are served over both too.

Handlers written for pywebsocket3 run unmodified: while mod_ws loads handler files,
`mod_pywebsocket` and `pywebsocket3` (and their submodules) import as mod_ws's modules
of the same name, even where the real pywebsocket3 is installed
(`--no-pywebsocket-imports` turns that off; mod_ws.aliases). What they call behaves as
there: `close_connection` raises BadOperationException for a code outside 1000-4999 or
a pseudo code (1005, 1006, 1015) and sends an empty close for (None, None);
`send_message` of anything but str or bytes is a TypeError; `request.headers_in[name]`
is None for a field the client did not send; the frame-level methods browser tests
call (`ws_stream._receive_frame()` and its tuple, `_receive_frame_as_frame_object`,
`receive_bytes`, `_send_pong`, `_write`, ...; mod_ws.server.frame_level) are there,
and after writing its own close frame with `request.connection.write` a handler sets
`request.server_terminated = True` so the server neither closes again nor answers the
client's close. A handler file that fails to load answers its handshakes with 500 and
the reason. `mod_ws.standalone._parse_args_and_config` and
`mod_ws.standalone.WebSocketServer(options)` embed the server as web-platform-tests
embeds pywebsocket3.

Example (example/echo_wsh.py):

    from mod_ws import msgutil

    _GOODBYE_MESSAGE = "Goodbye"


    def web_socket_do_extra_handshake(request):
        # Accept the first subprotocol offered, if any, so clients that insist get one.
        if request.ws_requested_protocols:
            request.ws_protocol = request.ws_requested_protocols[0]


    def web_socket_transfer_data(request):
        while True:
            message = msgutil.receive_message(request)
            if message is None:
                return
            if isinstance(message, str):
                msgutil.send_message(request, message)
                if message == _GOODBYE_MESSAGE:
                    return
            else:
                msgutil.send_message(request, message, binary=True)


    def web_socket_passive_closing_handshake(request):
        # Echo the client's close code and reason back to it.
        if request.ws_close_code == 1005:
            return None, ""
        return request.ws_close_code, request.ws_close_reason

More examples, each short and commented, are in example/ (see the README's tour).
"""

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # mod_ws.Server is imported on first use: handlers `import mod_ws` (or
    # `from mod_ws import msgutil`) and should not load the whole server for it.
    if name == "Server":
        from mod_ws.embedded import Server

        return Server
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
