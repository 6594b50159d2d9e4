"""The header table of a request, as handlers read it (`request.headers_in`).

Every carrier fills one: the HTTP/1.1 request head parser, and later the HTTP/2 and
HTTP/3 header blocks; the shared opening-handshake checks read it through `get_all`.
"""

from __future__ import annotations

from collections.abc import Iterator


class Headers:
    """Case-insensitive header table that keeps repeated fields and their order.

    Reads like the `headers_in` table pywebsocket3 handlers know: `get`, `[]`, `in`,
    plus `get_all` for repeated fields. Lookups scan the list (a request has at most
    mod_ws.defaults.MAX_HEADER_COUNT fields): an index by name would cost every held connection
    about 0.7 KiB more. For the same reason `pack` folds the fields into one string
    once the handshake is done; the next read unfolds them.
    """

    def __init__(self, items: list[tuple[str, str]] | None = None) -> None:
        self._fields: list[tuple[str, str]] | None = []
        self._packed = ""
        for name, value in items or []:
            self.add(name, value)

    @property
    def _items(self) -> list[tuple[str, str]]:
        fields = self._fields
        if fields is None:
            lines = self._packed.split("\n") if self._packed else []
            fields = [tuple(line.split(":", 1)) for line in lines]
            self._fields = fields
            self._packed = ""
        return fields

    def pack(self) -> None:
        """Keeps the fields as one string until they are read again.

        Each field is a tuple and two strings, about 170 bytes (bench/'s five-field
        request: 0.9 KiB); a connection held for minutes needs them rarely, if ever,
        after the handshake.
        """
        fields = self._fields
        if not fields:
            return
        packed = "\n".join(f"{name}:{value}" for name, value in fields)
        if packed.count("\n") != len(fields) - 1:
            return  # a value with a line break (never from the parser) stays unpacked
        self._packed = packed
        self._fields = None

    def add(self, name: str, value: str) -> None:
        self._items.append((name, value))

    def get_all(self, name: str) -> list[str]:
        key = name.lower()
        size = len(key)  # lower() keeps the length of a token: most names differ in it
        return [v for n, v in self._items if len(n) == size and (n == name or n.lower() == key)]

    def get(self, name: str, default: str | None = None) -> str | None:
        values = self.get_all(name)
        return values[0] if values else default

    def __getitem__(self, name: str) -> str | None:
        """The first value, or None for a missing field, as email.message.Message
        (pywebsocket3's headers_in) answers: handlers test `if headers_in['Cookie']:`."""
        return self.get(name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and bool(self.get_all(name))

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self._items)

    def keys(self) -> list[str]:
        return [n for n, _ in self._items]

    def items(self) -> list[tuple[str, str]]:
        return list(self._items)

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"
