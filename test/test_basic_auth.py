"""HTTP Basic authentication (mod_ws.server.basic_auth): the check itself."""

from __future__ import annotations

import base64

import pytest

from mod_ws.exceptions import HttpError
from mod_ws.protocol.headers import Headers
from mod_ws.server.basic_auth import check_authorization, expected_authorization

EXPECTED = expected_authorization("test:test")


def basic(credential: str) -> str:
    return "Basic " + base64.b64encode(credential.encode()).decode()


def test_the_expected_value_is_basic_and_base64_of_the_credential():
    """RFC 7617 section 2: user-pass joined by a colon, base64 encoded."""
    assert EXPECTED == b"Basic dGVzdDp0ZXN0"


@pytest.mark.parametrize("value", [basic("test:test"), "basic dGVzdDp0ZXN0", "Basic  dGVzdDp0ZXN0 "])
def test_the_right_credential_passes_whatever_the_scheme_case(value):
    check_authorization(Headers([("Authorization", value)]), EXPECTED)


@pytest.mark.parametrize("fields, words", [
    ([], "authentication required"),
    ([("Authorization", basic("test:wrong"))], "wrong credentials"),
    ([("Authorization", "Bearer dGVzdDp0ZXN0")], "wrong credentials"),
    ([("Authorization", basic("test:test")), ("Authorization", basic("test:test"))], "wrong credentials"),
    ([("Authorization", "Basic ÿÿ")], "wrong credentials"),
])
def test_a_missing_or_wrong_credential_is_401_with_a_challenge(fields, words):
    with pytest.raises(HttpError, match=words) as info:
        check_authorization(Headers(fields), EXPECTED)
    assert info.value.status == 401
    assert info.value.headers == [("WWW-Authenticate", 'Basic realm="mod_ws", charset="UTF-8"')]
