"""Optional accelerators, and the one switch that turns them all off.

mod_ws runs on the standard library alone. Where they are installed, two extras take
over hot paths with the same results:

- `mod_ws._speedups`, the C extension that `pip install` builds where a compiler
  exists (masking, whole small messages, small sends);
- zlib-ng (`pip install 'mod_ws[fast]'`), a faster implementation of zlib's deflate for
  permessage-deflate.

`MOD_WS_NO_SPEEDUPS=1` in the environment makes mod_ws use neither, so the pure paths
can be tested end to end and compared.
"""

from __future__ import annotations

import os
import zlib as _stdlib_zlib
from types import ModuleType

ENABLED = not os.environ.get("MOD_WS_NO_SPEEDUPS")

speedups: ModuleType | None = None
zlib: ModuleType = _stdlib_zlib
# What mod_ws calls in the C extension; an older build that lacks any is not used.
SPEEDUPS_FUNCTIONS = ("apply_mask", "take_whole_message", "build_unmasked_frame", "send_nowait")

if ENABLED:
    try:
        from mod_ws import _speedups as speedups
    except ImportError:
        pass
    else:
        if not all(hasattr(speedups, name) for name in SPEEDUPS_FUNCTIONS):
            speedups = None  # built from an older source: rebuild with pip install -e .
    try:
        from zlib_ng import zlib_ng as zlib
    except ImportError:
        pass


def describe() -> str:
    """One line for the start-up log: which accelerators are in use."""
    if not ENABLED:
        return "accelerators off (MOD_WS_NO_SPEEDUPS)"
    parts = ["C speedups" if speedups is not None else "no C speedups (not built, or built from older source)",
             "zlib-ng" if zlib is not _stdlib_zlib else "stdlib zlib"]
    return ", ".join(parts)
