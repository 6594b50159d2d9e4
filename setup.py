"""Package definition for mod_ws."""

from pathlib import Path

from setuptools import Extension, find_packages, setup

ROOT = Path(__file__).parent
VERSION = next(
    line.split('"')[1]
    for line in (ROOT / "mod_ws" / "__init__.py").read_text(encoding="utf-8").splitlines()
    if line.startswith("__version__")
)

setup(
    name="mod_ws",
    version=VERSION,
    description="A standalone WebSocket (RFC 6455) test server with pywebsocket3-style handlers",
    long_description=(ROOT / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="BSD-3-Clause",
    packages=find_packages(include=["mod_ws", "mod_ws.*"]),
    python_requires=">=3.9",
    install_requires=["pyopenssl", "configargparse"],
    extras_require={
        # Faster permessage-deflate (mod_ws.accelerators); the stdlib zlib otherwise.
        "fast": ["zlib-ng"],
        # What handler files written for pywebsocket3 import besides it: a third of
        # Chromium's and WPT's use six.moves (pywebsocket3 itself depends on six).
        "compat": ["six"],
        # The carriers beside HTTP/1.1: --http2 (RFC 8441) and --http3-port (RFC 9220).
        "h2": ["h2>=4.1"],
        "h3": ["aioquic>=1.7"],  # Python 3.10 or later
        "test": [
            "pytest",
            "hypothesis",
            # Pinned: test_client_suite.py pins how the client suite judges these
            # releases (3.9 gets each library's last release for it).
            "websockets==17.4; python_version >= '3.10'",
            "websockets==15.0.1; python_version < '3.10'",
            "websocket-client==1.9.2; python_version >= '3.10'",
            "websocket-client==1.9.0; python_version < '3.10'",
            "zlib-ng",  # the tests run with it; CI's Python 3.9 run goes without
            "playwright",  # drives the system's Chromium in test_e2e_browser.py
            # HTTP/2 and HTTP/3 (test_e2e_http2.py, test_e2e_http3.py): the carriers'
            # extras, and wsproto to frame the test clients' WebSockets independently.
            "h2>=4.1",
            "aioquic>=1.7; python_version >= '3.10'",  # on 3.9 the HTTP/3 tests skip
            "wsproto",
        ],
    },
    # Optional: without a C compiler the pure-Python masking is used.
    ext_modules=[Extension("mod_ws._speedups", ["mod_ws/_speedups.c"], optional=True)],
    entry_points={"console_scripts": ["mod_ws = mod_ws.standalone:main"],
                  "pytest11": ["mod_ws = mod_ws.pytest_plugin"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Internet :: WWW/HTTP",
        "Topic :: Software Development :: Testing",
    ],
)
