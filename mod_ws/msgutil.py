"""Message helpers for handlers, with the names pywebsocket3 handlers import.

`MessageReceiver` and `MessageSender` run the blocking receive or send on a helper
thread, so a handler can wait for messages and send at the same time.
"""

from __future__ import annotations

import queue
import threading
from typing import Any, Callable

# pywebsocket3 handlers take the stream exceptions from here too
# (its example internal_error_wsh.py raises msgutil.BadOperationException).
from mod_ws.exceptions import (
    BadOperationException,
    ConnectionTerminatedException,
    InvalidFrameException,
    InvalidUTF8Exception,
    UnsupportedFrameException,
)


def close_connection(request: Any) -> None:
    """Starts the closing handshake with code 1000."""
    request.ws_stream.close_connection()


def send_message(request: Any, payload_data: str | bytes, end: bool = True, binary: bool = False) -> None:
    """Sends a text (str) or binary (bytes, with binary=True) message or fragment."""
    request.ws_stream.send_message(payload_data, end, binary)


def receive_message(request: Any) -> str | bytes | None:
    """The next message: str for text, bytes for binary, None once the client closed."""
    return request.ws_stream.receive_message()


def send_ping(request: Any, body: str | bytes = b"") -> None:
    request.ws_stream.send_ping(body)


class MessageReceiver(threading.Thread):
    """Receives messages on its own thread.

    With `onmessage`, each message is passed to it; without, messages queue up for
    `receive` / `receive_nowait`. The thread ends when the connection does.
    """

    def __init__(self, request: Any, onmessage: Callable[[Any], None] | None = None) -> None:
        super().__init__(daemon=True, name="MessageReceiver")
        self._request = request
        self._queue: queue.Queue = queue.Queue()
        self._onmessage = onmessage
        self._stop_requested = False
        self.start()

    def run(self) -> None:
        try:
            while not self._stop_requested:
                message = receive_message(self._request)
                if self._onmessage:
                    self._onmessage(message)
                else:
                    self._queue.put(message)
                if message is None:
                    return
        except ConnectionTerminatedException:
            self._queue.put(None)
        finally:
            try:
                close_connection(self._request)
            except ConnectionTerminatedException:
                pass

    def receive(self) -> Any:
        """Blocks until a message arrives; None when the connection closed."""
        return self._queue.get()

    def receive_nowait(self) -> Any:
        """A queued message, or None when nothing is waiting."""
        try:
            return self._queue.get_nowait()
        except queue.Empty:
            return None

    def stop(self) -> None:
        """Asks the thread to end after the current message and closes the connection."""
        self._stop_requested = True
        close_connection(self._request)


class MessageSender(threading.Thread):
    """Sends messages on its own thread, in the order they were given.

    The thread ends with the connection; `send` then raises
    ConnectionTerminatedException instead of waiting forever.
    """

    def __init__(self, request: Any) -> None:
        super().__init__(daemon=True, name="MessageSender")
        self._request = request
        self._queue: queue.Queue = queue.Queue()
        request.connection.add_close_callback(lambda: self._queue.put(None))
        self.start()

    def run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                break
            message, done = item
            try:
                send_message(self._request, message)
            except Exception as e:  # handed to the caller waiting in send()
                done.put(e)
                continue
            done.put(None)
        # Anything still queued will never be sent: tell whoever waits for it.
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is not None:
                item[1].put(ConnectionTerminatedException("connection closed before sending"))

    def send(self, message: str | bytes) -> None:
        """Sends and waits until the message was written (re-raising a failure)."""
        done: queue.Queue = queue.Queue()
        self._queue.put((message, done))
        while True:
            try:
                error = done.get(timeout=0.5)
                break
            except queue.Empty:
                if not self.is_alive() and done.empty():
                    raise ConnectionTerminatedException("connection closed before sending") from None
        if error is not None:
            raise error

    def send_nowait(self, message: str | bytes) -> None:
        """Queues the message and returns at once."""
        self._queue.put((message, queue.Queue()))


__all__ = [
    "BadOperationException",
    "ConnectionTerminatedException",
    "InvalidFrameException",
    "InvalidUTF8Exception",
    "MessageReceiver",
    "MessageSender",
    "close_connection",
    "receive_message",
    "send_message",
    "send_ping",
    "UnsupportedFrameException",
]
