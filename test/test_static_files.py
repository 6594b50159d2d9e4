"""Unit tests of static file resolution, content types and listings (mod_ws.server.static_files)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mod_ws.exceptions import HttpError
from mod_ws.server.static_files import (
    StaticTarget,
    content_type,
    directory_listing,
    not_modified_since,
    resolve_static_path,
)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A document root with files, nested directories and a secret next to it:

    root/file.txt, root/sub/nested.txt, root/sub/deeper/x.js, root/withindex/index.html,
    root/empty/, root/my dir/f.txt, root/100%/, root/café/ ;
    tmp_path/secret.txt and tmp_path/outside/ are outside the root.
    """
    base = tmp_path.resolve()
    r = base / "root"
    (r / "sub" / "deeper").mkdir(parents=True)
    (r / "withindex").mkdir()
    (r / "empty").mkdir()
    (r / "my dir").mkdir()
    (r / "100%").mkdir()
    (r / "caf\u00e9").mkdir()
    (r / "file.txt").write_text("top")
    (r / "sub" / "nested.txt").write_text("nested")
    (r / "sub" / "deeper" / "x.js").write_text("js")
    (r / "withindex" / "index.html").write_text("<p>index</p>")
    (r / "my dir" / "f.txt").write_text("spaced")
    (base / "secret.txt").write_text("secret")
    (base / "outside").mkdir()
    (base / "outside" / "o.txt").write_text("o")
    return r


def status_of(root: Path, url_path: str, **kwargs) -> int:
    with pytest.raises(HttpError) as info:
        resolve_static_path(root, url_path, **kwargs)
    return info.value.status


# --- files and directories -----------------------------------------------------------


def test_top_level_file_resolves_to_itself(root):
    assert resolve_static_path(root, "/file.txt") == StaticTarget(root / "file.txt", False)


def test_nested_file_and_percent_encoded_name(root):
    assert resolve_static_path(root, "/sub/deeper/x.js").path == root / "sub" / "deeper" / "x.js"
    assert resolve_static_path(root, "/my%20dir/f.txt").path == root / "my dir" / "f.txt"
    assert resolve_static_path(root, "/%73ub/nested.txt").path == root / "sub" / "nested.txt"


def test_dot_segments_and_repeated_slashes_are_ignored(root):
    assert resolve_static_path(root, "/./sub//./nested.txt").path == root / "sub" / "nested.txt"


@pytest.mark.parametrize("url_path", ["/missing.txt", "/sub/missing", "/missing/dir/"])
def test_missing_path_is_404(root, url_path):
    assert status_of(root, url_path) == 404


def test_broken_symlink_is_404(root):
    (root / "dangling").symlink_to(root / "nowhere")
    assert status_of(root, "/dangling") == 404


@pytest.mark.parametrize("url_path, redirect", [("/sub", "/sub/"), ("/sub/deeper", "/sub/deeper/"),
                                                 ("/my%20dir", "/my%20dir/"), ("/100%25", "/100%25/"),
                                                 ("/caf%C3%A9", "/caf%C3%A9/")])
def test_directory_without_trailing_slash_redirects_to_slash(root, url_path, redirect):
    target = resolve_static_path(root, url_path)
    assert target.redirect == redirect
    assert target.redirect.endswith("/")
    assert target.is_directory


def test_directory_with_index_html_serves_that_file(root):
    assert resolve_static_path(root, "/withindex/") == StaticTarget(root / "withindex" / "index.html", False)


def test_directory_without_index_is_a_directory_target(root):
    assert resolve_static_path(root, "/empty/") == StaticTarget(root / "empty", True)
    assert resolve_static_path(root, "/") == StaticTarget(root, True)


# --- escapes from the root ----------------------------------------------------------

ESCAPES = [
    "/..",
    "/../secret.txt",
    "/%2e%2e/secret.txt",
    "/%2E%2E/",
    "/%2e%2E",
    "/.%2e/secret.txt",
    "/a/../../secret.txt",
    "/sub/../file.txt",
    "/..\\secret.txt",
    "/sub\\..\\..\\secret.txt",
    "/%5c..%5csecret.txt",
    "/%2e%2e%2fsecret.txt",
]


@pytest.mark.parametrize("url_path", ESCAPES)
def test_dot_dot_in_any_encoding_and_backslashes_are_403(root, url_path):
    assert status_of(root, url_path) == 403


@pytest.mark.parametrize("url_path", ["/%00", "/file.txt%00.html", "/sub/%00/x"])
def test_nul_byte_is_400(root, url_path):
    assert status_of(root, url_path) == 400


@pytest.mark.parametrize("url_path", ["/%ff", "/caf%e9", "/%c3", "/%ed%a0%80"])
def test_percent_encoding_that_is_not_utf8_is_400(root, url_path):
    assert status_of(root, url_path) == 400


def test_symlinked_file_pointing_outside_root_is_403(root):
    (root / "leak.txt").symlink_to(root.parent / "secret.txt")
    assert status_of(root, "/leak.txt") == 403


def test_symlinked_directory_pointing_outside_root_is_403(root):
    (root / "out").symlink_to(root.parent / "outside", target_is_directory=True)
    assert status_of(root, "/out/o.txt") == 403
    assert status_of(root, "/out/") == 403


def test_symlinks_outside_root_allowed_with_follow_symlinks_out(root):
    (root / "leak.txt").symlink_to(root.parent / "secret.txt")
    (root / "out").symlink_to(root.parent / "outside", target_is_directory=True)
    target = resolve_static_path(root, "/leak.txt", follow_symlinks_out=True)
    assert target == StaticTarget(root.parent / "secret.txt", False)
    target = resolve_static_path(root, "/out/o.txt", follow_symlinks_out=True)
    assert target.path == root.parent / "outside" / "o.txt"


def test_follow_symlinks_out_does_not_allow_dot_dot(root):
    assert status_of(root, "/../secret.txt", follow_symlinks_out=True) == 403


def test_symlink_pointing_inside_root_is_served(root):
    (root / "alias.txt").symlink_to(root / "sub" / "nested.txt")
    (root / "subalias").symlink_to(root / "sub", target_is_directory=True)
    assert resolve_static_path(root, "/alias.txt") == StaticTarget(root / "sub" / "nested.txt", False)
    assert resolve_static_path(root, "/subalias/nested.txt").path == root / "sub" / "nested.txt"


def test_sibling_directory_sharing_root_name_prefix_is_outside(root):
    """`/x/root-evil` is not inside `/x/root` even though the string starts the same."""
    evil = root.parent / (root.name + "-evil")
    evil.mkdir()
    (evil / "e.txt").write_text("e")
    (root / "e.txt").symlink_to(evil / "e.txt")
    assert status_of(root, "/e.txt") == 403


# --- content types -------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, expected",
    [
        ("index.html", "text/html"),
        ("app.js", "text/javascript"),
        ("APP.JS", "text/javascript"),
        ("mod.mjs", "text/javascript"),
        ("style.css", "text/css"),
        ("data.json", "application/json"),
        ("image.png", "image/png"),
        ("logo.svg", "image/svg+xml"),
        ("prog.wasm", "application/wasm"),
        ("notes.txt", "text/plain"),
        ("blob.unknownext", "application/octet-stream"),
        ("noextension", "application/octet-stream"),
        ("archive.tar.gz", "application/octet-stream"),
    ],
)
def test_content_type_is_chosen_by_extension_with_octet_stream_fallback(name, expected):
    assert content_type(Path("/srv") / name) == expected


# --- directory listings --------------------------------------------------------------


def test_directory_listing_escapes_names_and_title(tmp_path):
    (tmp_path / '<script>alert("x")&.txt').write_text("")
    (tmp_path / "a dir").mkdir()
    (tmp_path / "plain.txt").write_text("")
    page = directory_listing(tmp_path, "/%3Cb%3E/").decode("utf-8")
    assert "<script>" not in page
    assert "<b>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&amp;.txt" in page
    assert 'href="%3Cscript%3Ealert%28%22x%22%29%26.txt"' in page
    assert "<title>/&lt;b&gt;/</title>" in page
    assert 'href="a%20dir/"' in page and ">a dir/<" in page
    assert page.index("a dir/") < page.index("plain.txt")


def test_directory_listing_of_missing_directory_is_403(tmp_path):
    with pytest.raises(HttpError) as info:
        directory_listing(tmp_path / "gone", "/gone/")
    assert info.value.status == 403


def test_file_asked_for_as_a_directory_is_not_found(root):
    """`/file.txt/` names a directory; a file there is not it (as other servers answer)."""
    assert status_of(root, "/file.txt/") == 404
    assert status_of(root, "/sub/nested.txt/") == 404


def test_not_modified_since_compares_whole_seconds_and_ignores_bad_dates():
    assert not_modified_since("Sun, 06 Nov 1994 08:49:37 GMT", 784111777.9)
    assert not not_modified_since("Sun, 06 Nov 1994 08:49:36 GMT", 784111777.0)
    assert not not_modified_since(None, 0) and not not_modified_since("", 0)
    assert not not_modified_since("yesterday", 0)
    assert not not_modified_since("Sun, 06 Nov 1994 08:49:37", 0)  # no zone: not an HTTP date
