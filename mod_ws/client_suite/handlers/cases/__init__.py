"""The generated case handlers, `<id>_wsh.py` (see mod_ws.client_suite.generate)."""
