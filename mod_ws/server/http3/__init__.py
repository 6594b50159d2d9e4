"""HTTP/3 (QUIC, with aioquic): WebSockets by extended CONNECT (RFC 9220).

The server binds a UDP socket beside the TCP listeners and runs every QUIC connection
on one asyncio event-loop thread (`server`). Each extended CONNECT stream becomes a
WebSocket with its own handler thread, reading and writing through the shared
`StreamTransport` (mod_ws.server.multiplexed); `connection` is the bridge between the
loop and those threads, with flow-control credit granted only as handlers read
(`quic`) and sends held back while aioquic already holds enough of a stream's data.
`stream` is what a handler thread does: the shared accept, the session, the stream's
clean end.
"""
