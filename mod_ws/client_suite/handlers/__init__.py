"""The client suite's handler root (`python -m mod_ws.client_suite --root`).

Not imported by anything: this file (and the one in cases/) only makes setuptools'
find_packages install the handler files with the package. mod_ws loads only the
`*_wsh.py` files under a handler root, so it ignores these.
"""
