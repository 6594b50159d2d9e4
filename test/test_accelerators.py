"""mod_ws.accelerators: what is used, and that MOD_WS_NO_SPEEDUPS turns it all off."""

import json
import os
import subprocess
import sys
import zlib

import pytest

from mod_ws import accelerators
from mod_ws.protocol import deflate, frames
from mod_ws.server import transport

PROBE = (
    "import json, mod_ws.accelerators as a, mod_ws.protocol.deflate as d, mod_ws.protocol.frames as f;"
    "print(json.dumps([a.ENABLED, a.speedups is not None, a.zlib.__name__,"
    " d.DEFAULT_COMPRESSION_LEVEL, f.apply_mask is f.apply_mask_python, a.describe()]))"
)


def _probe(**env):
    environment = {k: v for k, v in os.environ.items() if k != "MOD_WS_NO_SPEEDUPS"}
    environment.update(env)
    out = subprocess.run([sys.executable, "-c", PROBE], env=environment, check=True,
                         capture_output=True, text=True, timeout=60).stdout
    return json.loads(out)


def test_the_switch_turns_every_accelerator_off():
    enabled, has_c, zlib_name, level, pure_mask, text = _probe(MOD_WS_NO_SPEEDUPS="1")
    assert (enabled, has_c, zlib_name, level, pure_mask) == (False, False, "zlib", 4, True)
    assert "MOD_WS_NO_SPEEDUPS" in text


def test_without_the_switch_whatever_is_installed_is_used():
    enabled, has_c, zlib_name, level, pure_mask, _ = _probe()
    assert enabled
    try:
        from mod_ws import _speedups
    except ImportError:
        built = False
    else:
        built = all(hasattr(_speedups, name) for name in accelerators.SPEEDUPS_FUNCTIONS)
    assert has_c == built and pure_mask == (not built)
    try:
        import zlib_ng  # noqa: F401
        expected = ("zlib_ng.zlib_ng", 3)
    except ImportError:
        expected = ("zlib", 4)
    assert (zlib_name, level) == expected


@pytest.mark.skipif(accelerators.zlib is zlib, reason="zlib-ng is not in use")
def test_zlib_ng_output_is_plain_deflate_that_stdlib_zlib_inflates():
    text = b'{"id": 12, "name": "alpha", "tags": ["x", "y"]}' * 500
    deflater = deflate.MessageDeflater(window_bits=10)
    inflater = zlib.decompressobj(-10)  # one stream: context takeover refers back
    sizes = []
    for _ in range(3):
        data = deflater.compress(text)
        sizes.append(len(data))
        assert inflater.decompress(data + deflate.EMPTY_BLOCK_TAIL) == text
    assert sizes[1] < sizes[0]  # the second message refers back into the first
    fresh = deflate.MessageDeflater(window_bits=10, no_context_takeover=True)
    assert zlib.decompressobj(-10).decompress(fresh.compress(text) + deflate.EMPTY_BLOCK_TAIL) == text


def test_the_accelerated_names_are_the_ones_in_use():
    if accelerators.speedups is None:
        assert frames.apply_mask is frames.apply_mask_python
        assert transport.send_nowait is None
    else:
        assert frames.apply_mask is accelerators.speedups.apply_mask
        assert frames.take_whole_message is accelerators.speedups.take_whole_message
        assert frames.build_unmasked_frame is accelerators.speedups.build_unmasked_frame
        assert transport.send_nowait is accelerators.speedups.send_nowait
