"""Receives on one thread while sending on another: uppercase echo plus a clock tick.

Shows msgutil.MessageReceiver and msgutil.MessageSender, the helpers for a handler
that must wait for the client and send on its own schedule at the same time:

  * MessageReceiver(request, onmessage) reads messages on its own thread and calls
    onmessage(message) for each; onmessage(None) means the client closed;
  * MessageSender(request) writes the messages given to send() or send_nowait() on
    its own thread, in order, so neither the receiver nor the clock waits on a slow
    client.

Each text message comes back uppercased; a binary one is answered with a text note
of its size. Every second the server also sends `tick N` by itself. When the client
closes, the handler's thread stops ticking and returns; under mod_ws both helper
threads then end with the connection, so nothing is left running.

Try it (server started with `-d example` on port 8880): connect from
http://127.0.0.1:8880/console.html to ws://127.0.0.1:8880/receiver_sender and type.
"""

import threading

from mod_ws import msgutil

TICK_SECONDS = 1.0


def web_socket_do_extra_handshake(request):
    pass


def web_socket_transfer_data(request):
    sender = msgutil.MessageSender(request)
    client_closed = threading.Event()

    def on_message(message):
        # Runs on the receiver's thread. send_nowait only queues, so reading goes on
        # at once, and it never raises: a reply queued after the close is dropped.
        if message is None:
            client_closed.set()
        elif isinstance(message, bytes):
            sender.send_nowait("binary message of %d bytes" % len(message))
        else:
            sender.send_nowait(message.upper())

    receiver = msgutil.MessageReceiver(request, on_message)
    ticks = 0
    # Tick until the client closes, or the receiver stops because the connection broke
    # (then on_message is not called with None).
    while not client_closed.wait(TICK_SECONDS) and receiver.is_alive():
        ticks += 1
        try:
            sender.send("tick %d" % ticks)  # waits until written: a failure shows here
        except (msgutil.ConnectionTerminatedException, msgutil.BadOperationException):
            break  # the connection is closing or gone
    receiver.join(5)
