"""The request object handed to handlers: the attributes, in `pydoc mod_ws.request`.

The same section is part of the handler-writer's guide, `pydoc mod_ws`; this module
shows it alone, beside the class (mod_ws.server.request.WebSocketRequest).
"""

from __future__ import annotations

import re

import mod_ws
from mod_ws.server.request import Connection, WebSocketRequest


def _section(text: str, title: str) -> str:
    """One titled section of a docstring: its title, underline and body, up to the
    next title."""
    headings = [m.start() for m in re.finditer(r"^[^\n]+\n-+$", text, re.MULTILINE)]
    start = text.index(f"\n{title}\n") + 1
    end = next((h for h in headings if h > start), len(text))
    return text[start:end].rstrip() + "\n"


__doc__ = _section(mod_ws.__doc__ or "", "The request object")

__all__ = ["Connection", "WebSocketRequest"]
