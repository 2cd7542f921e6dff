"""A skill file's MIME type, and whether it travels as `text` or as a base64 `blob`.

Hosts verify what they read against the entry's digest and size, which cover the file's raw bytes.
A file served as `text` is therefore served only when its bytes are UTF-8 that decodes and encodes
back to the same bytes (a host re-encodes the string to check it); anything else is a `blob`.
"""

from __future__ import annotations

import mimetypes

_BY_SUFFIX = {
    ".md": "text/markdown", ".markdown": "text/markdown", ".txt": "text/plain", ".py": "text/x-python",
    ".sh": "text/x-shellscript", ".bash": "text/x-shellscript", ".js": "text/javascript", ".mjs": "text/javascript",
    ".ts": "text/x-typescript", ".json": "application/json", ".yaml": "application/yaml", ".yml": "application/yaml",
    ".toml": "application/toml", ".xml": "application/xml", ".html": "text/html", ".css": "text/css", ".csv": "text/csv",
    ".sql": "application/sql", ".svg": "image/svg+xml", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
    ".gif": "image/gif", ".webp": "image/webp", ".pdf": "application/pdf",
}
_TEXT_TYPES = {"application/json", "application/yaml", "application/toml", "application/xml", "application/sql",
               "application/javascript", "image/svg+xml"}


def mime_type(name: str, data: bytes) -> str:
    """From the file's suffix; a suffix nobody knows is text/plain when the bytes are text, else octet-stream."""
    dot = name.rfind(".")
    suffix = name[dot:].lower() if dot > 0 else ""
    known = _BY_SUFFIX.get(suffix) or (mimetypes.guess_type(name, strict=False)[0] if suffix else None)
    if known:
        return known
    return "text/plain" if as_text(data) is not None and b"\0" not in data else "application/octet-stream"


def is_textual(mime: str) -> bool:
    return mime.startswith("text/") or mime in _TEXT_TYPES


def as_text(data: bytes) -> str | None:
    """The bytes as a string that encodes back to exactly them, or None."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None
