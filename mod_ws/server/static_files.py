"""Static files from the document root: safe path resolution, types, directory pages.

Every request path is percent-decoded, split into segments and resolved; a `..`
segment (however encoded) or a symlink that leads outside the root is refused, unless
the server was told to follow symlinks out of the root.
"""

from __future__ import annotations

import email.utils
import html
import mimetypes
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote

from mod_ws.common import HTTP_STATUS_BAD_REQUEST, HTTP_STATUS_FORBIDDEN, HTTP_STATUS_NOT_FOUND
from mod_ws.exceptions import HttpError

INDEX_FILE = "index.html"

# Types mimetypes may not know on a bare system.
_EXTRA_TYPES = {
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".json": "application/json",
    ".wasm": "application/wasm",
    ".svg": "image/svg+xml",
}


@dataclass
class StaticTarget:
    """What a request path resolved to."""

    path: Path
    is_directory: bool
    redirect: str | None = None  # a directory asked for without its trailing slash


def content_type(path: Path) -> str:
    """The Content-Type for a file, by its extension."""
    extra = _EXTRA_TYPES.get(path.suffix.lower())
    if extra:
        return extra
    guessed, encoding = mimetypes.guess_type(path.name)
    if guessed is None or encoding is not None:
        return "application/octet-stream"
    return guessed


def path_segments(url_path: str) -> tuple[str, list[str]]:
    """A URL path (no query) decoded, and its segments without empty or "." ones.

    Raises HttpError 400 for an undecodable path and 403 for one that would escape the
    document root ("..", backslashes).
    """
    try:
        decoded = unquote(url_path, errors="strict")
    except UnicodeDecodeError:
        raise HttpError(HTTP_STATUS_BAD_REQUEST, "request path is not valid UTF-8") from None
    if "\0" in decoded:
        raise HttpError(HTTP_STATUS_BAD_REQUEST, "request path contains a NUL byte")
    segments = [s for s in decoded.split("/") if s not in ("", ".")]
    if ".." in segments or any("\\" in s for s in segments):
        raise HttpError(HTTP_STATUS_FORBIDDEN, f"path {url_path!r} escapes the document root")
    return decoded, segments


def is_within(path: Path, directory: Path) -> bool:
    """Is `path` `directory` itself or somewhere below it?"""
    return path == directory or directory in path.parents


def resolve_static_path(root: Path, url_path: str, follow_symlinks_out: bool = False) -> StaticTarget:
    """Maps a URL path (no query) to a file under `root` (already resolved).

    Raises HttpError 400 for an undecodable path, 403 for one that escapes the root,
    404 for one that does not exist.
    """
    decoded, segments = path_segments(url_path)
    candidate = root.joinpath(*segments)
    try:
        real = candidate.resolve(strict=True)
    except (OSError, RuntimeError):
        raise HttpError(HTTP_STATUS_NOT_FOUND, f"{url_path} not found") from None
    if not follow_symlinks_out and not is_within(real, root):
        raise HttpError(HTTP_STATUS_FORBIDDEN, f"{url_path} leads outside the document root")
    if real.is_dir():
        if not decoded.endswith("/"):
            return StaticTarget(real, True, redirect=quote(decoded) + "/")
        index = real / INDEX_FILE
        if index.is_file():
            return StaticTarget(index, False)
        return StaticTarget(real, True)
    if not real.is_file() or decoded.endswith("/"):  # a file is not a directory
        raise HttpError(HTTP_STATUS_NOT_FOUND, f"{url_path} not found")
    return StaticTarget(real, False)


def directory_listing(directory: Path, url_path: str) -> bytes:
    """A plain HTML index of a directory that has no index.html."""
    try:
        entries = sorted(directory.iterdir(), key=lambda p: p.name)
    except OSError as e:
        raise HttpError(HTTP_STATUS_FORBIDDEN, f"cannot list {url_path}: {e.strerror}") from None
    title = html.escape(unquote(url_path))
    rows = []
    for entry in entries:
        name = entry.name + ("/" if entry.is_dir() else "")
        rows.append(f'<li><a href="{quote(name)}">{html.escape(name)}</a></li>')
    page = (
        f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title></head>"
        f"<body><h1>Index of {title}</h1><ul>\n" + "\n".join(rows) + "\n</ul></body></html>\n"
    )
    return page.encode("utf-8")


def not_modified_since(if_modified_since: str | None, mtime: float) -> bool:
    """Does an If-Modified-Since value (RFC 9110 section 13.1.3) hold for a file last
    modified at `mtime`? HTTP dates have whole seconds; a date that does not parse is
    ignored, as the RFC says."""
    if not if_modified_since:
        return False
    try:
        since = email.utils.parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError, IndexError):
        return False
    if since is None or since.tzinfo is None:
        return False
    return int(mtime) <= since.timestamp()
