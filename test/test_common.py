"""Unit tests of header grammar helpers and protocol constants (mod_ws.common)."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mod_ws.common import (
    ExtensionParameter,
    ExtensionParsingException,
    format_extension,
    format_extensions,
    is_control_opcode,
    is_token,
    is_valid_close_code,
    parse_extensions,
    parse_token_list,
)

FAST = settings(max_examples=60, deadline=None)

# RFC 7230 section 3.2.6: a token is 1*tchar, and tchar is any VCHAR except these delimiters.
DELIMITERS = '"(),/:;<=>?@[\\]{}'
TCHARS = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in DELIMITERS)


def as_tuples(extensions):
    return [(e.name(), e.get_parameters()) for e in extensions]


# --- is_token / parse_token_list ------------------------------------------------------


def test_is_token_accepts_exactly_the_rfc7230_tchars():
    for code in range(256):
        char = chr(code)
        assert is_token(char) == (char in TCHARS), repr(char)
    assert set(TCHARS) >= set(string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~")


@pytest.mark.parametrize(
    "text, expected",
    [("", False), ("chat", True), ("x-foo.bar_1", True), ("a b", False), ("a\t", False), ("a/b", False),
     ("\u00e9", False), ("ch\u0430t", False), ("a,b", False)],
    ids=["empty", "word", "punctuated", "space", "tab", "slash", "latin1", "cyrillic-a", "comma"],
)
def test_is_token_on_sample_strings(text, expected):
    assert is_token(text) is expected


@pytest.mark.parametrize(
    "value, expected",
    [
        ("chat", ["chat"]),
        ("chat, superchat", ["chat", "superchat"]),
        (" a ,\tb\t,c ", ["a", "b", "c"]),
        ("a,,b, ,", ["a", "b"]),
        ("", []),
        (" , ", []),
    ],
    ids=["one", "two", "white-space", "empty-elements", "empty", "only-commas"],
)
def test_parse_token_list_trims_and_skips_empty_elements(value, expected):
    """RFC 7230 section 7: #rule lists, empty elements ignored, OWS around commas."""
    assert parse_token_list(value) == expected


@pytest.mark.parametrize("value", ["a b", "chat, super chat", "a;b", 'a, "b"', "a/1"])
def test_parse_token_list_rejects_non_tokens(value):
    with pytest.raises(ValueError):
        parse_token_list(value)


# --- close codes and opcodes ---------------------------------------------------------


@pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014,
                                  3000, 3999, 4000, 4999])
def test_valid_close_codes_are_accepted(code):
    """RFC 6455 7.4.1 and 7.4.2 (plus IANA-registered 1012-1014)."""
    assert is_valid_close_code(code)


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535])
def test_reserved_and_unassigned_close_codes_are_rejected(code):
    """1004 is reserved; 1005, 1006 and 1015 MUST NOT be sent; 0-999 and 1016-2999 unused."""
    assert not is_valid_close_code(code)


def test_control_opcodes_are_those_with_the_high_bit():
    """RFC 6455 5.5: control frames have opcodes whose most significant bit is 1."""
    assert [op for op in range(16) if is_control_opcode(op)] == list(range(8, 16))


# --- parse_extensions ----------------------------------------------------------------

PARSES = [
    ("single", "permessage-deflate", [("permessage-deflate", [])]),
    ("several-offers", "a, b, c", [("a", []), ("b", []), ("c", [])]),
    ("same-extension-twice", "deflate; x=1, deflate",
     [("deflate", [("x", "1")]), ("deflate", [])]),
    ("params-with-and-without-values",
     "permessage-deflate; client_max_window_bits; server_max_window_bits=10",
     [("permessage-deflate", [("client_max_window_bits", None), ("server_max_window_bits", "10")])]),
    ("quoted-value", 'foo; bar="baz"', [("foo", [("bar", "baz")])]),
    ("quoted-value-with-escapes", r'foo; bar="b\a\z"', [("foo", [("bar", "baz")])]),
    ("quoted-escaped-digit", r'foo; n="1\0"', [("foo", [("n", "10")])]),
    ("white-space-everywhere", " a \t;\tx = 1 ;  y ,  b ; z=\"2\" ",
     [("a", [("x", "1"), ("y", None)]), ("b", [("z", "2")])]),
    ("no-white-space", "a;x=1;y,b", [("a", [("x", "1"), ("y", None)]), ("b", [])]),
    ("empty-elements-skipped", ", a,, ,b ,", [("a", []), ("b", [])]),
    ("parameter-order-kept", "e; z; a=1; m", [("e", [("z", None), ("a", "1"), ("m", None)])]),
]


@pytest.mark.parametrize("header, expected", [c[1:] for c in PARSES], ids=[c[0] for c in PARSES])
def test_parse_extensions_accepts_rfc6455_grammar(header, expected):
    """RFC 6455 section 9.1 grammar, with RFC 7230 list and white-space rules."""
    assert as_tuples(parse_extensions(header)) == expected


ERRORS = [
    ("empty-header", ""),
    ("only-white-space", "  \t"),
    ("only-commas", " , ,"),
    ("trailing-semicolon", "foo;"),
    ("trailing-semicolon-space", "foo; "),
    ("double-semicolon", "foo;;bar"),
    ("semicolon-first", "; foo"),
    ("equals-without-value", "foo; bar="),
    ("equals-without-value-then-comma", "foo; bar=, baz"),
    ("equals-without-name", "foo; =1"),
    ("unterminated-quote", 'foo; bar="baz'),
    ("unterminated-after-escape", 'foo; bar="baz\\'),
    ("quoted-not-token-space", 'foo; bar="a b"'),
    ("quoted-empty", 'foo; bar=""'),
    ("quoted-escaped-quote", 'foo; bar="\\"x"'),
    ("two-tokens-without-separator", "foo bar"),
    ("value-with-slash", "foo; bar=a/b"),
    ("non-ascii-name", "d\u00e9flate"),
    ("quote-in-name", '"foo"'),
    ("stuff-after-quoted", 'foo; bar="x"y'),
]


@pytest.mark.parametrize("header", [c[1] for c in ERRORS], ids=[c[0] for c in ERRORS])
def test_parse_extensions_rejects_malformed_headers(header):
    with pytest.raises(ExtensionParsingException):
        parse_extensions(header)


def test_extension_parsing_exception_is_a_value_error():
    assert issubclass(ExtensionParsingException, ValueError)


# --- format_extensions ---------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        "permessage-deflate",
        "permessage-deflate; client_max_window_bits",
        "permessage-deflate; server_no_context_takeover; server_max_window_bits=10, x-foo",
        "a, b; c=d, e",
    ],
)
def test_format_of_parse_round_trips_canonical_headers(header):
    assert format_extensions(parse_extensions(header)) == header


def test_format_of_parse_canonicalises_white_space_and_quotes():
    assert format_extensions(parse_extensions(' a ;x = "1" ,, b ')) == "a; x=1, b"


def test_format_extension_and_parameter_accessors():
    extension = ExtensionParameter("permessage-deflate")
    extension.add_parameter("client_max_window_bits", None)
    extension.add_parameter("server_max_window_bits", "15")
    assert format_extension(extension) == (
        "permessage-deflate; client_max_window_bits; server_max_window_bits=15"
    )
    assert extension.get_parameter_names() == ["client_max_window_bits", "server_max_window_bits"]
    assert extension.has_parameter("client_max_window_bits")
    assert not extension.has_parameter("server_no_context_takeover")
    assert extension.get_parameter_value("client_max_window_bits") is None
    assert extension.get_parameter_value("server_max_window_bits") == "15"
    assert format_extensions([]) == ""


tokens = st.text(alphabet=TCHARS, min_size=1, max_size=8)
extension_lists = st.lists(
    st.tuples(tokens, st.lists(st.tuples(tokens, st.none() | tokens), max_size=3)), min_size=1, max_size=4
)


@FAST
@given(extension_lists)
def test_parse_of_format_round_trips_any_extension_list(extensions):
    built = []
    for name, parameters in extensions:
        extension = ExtensionParameter(name)
        for key, value in parameters:
            extension.add_parameter(key, value)
        built.append(extension)
    assert as_tuples(parse_extensions(format_extensions(built))) == extensions
