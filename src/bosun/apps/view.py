"""A view: a `ui://` resource holding one HTML document, with the `_meta.ui` its host needs to frame it.

The document is read once, when the view is declared (a file is read then, not per request), and
checked: a `ui://` URI, an HTML5 document (it opens with `<!doctype html>` or `<html`), UTF-8, at most
5 MiB. The same `_meta.ui` goes on the listing and on the contents `resources/read` returns: hosts that
review views at connection time read the first, the specification's renderers the second.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bosun.app.resources import Resource
from bosun.apps.policy import Csp, csp_meta, domain_meta, permissions_meta
from bosun.apps.spec import MIME_TYPE, SCHEME

MAX_HTML_BYTES = 5 * 1024 * 1024
_DOCUMENT = re.compile(r"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html)[\s>]", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True, slots=True)
class View:
    """A declared view; give it to a tool as `ui=` (or give the URI)."""

    uri: str
    meta: dict[str, Any] = field(default_factory=dict)
    """Its `_meta.ui`: csp, permissions, domain, prefersBorder (only what was given)."""


def document(html: str | os.PathLike[str], uri: str) -> str:
    """The view's HTML: a path's file, read now, or the string itself (which must be a document)."""
    if isinstance(html, os.PathLike):
        path = Path(html)
        try:
            if path.stat().st_size > MAX_HTML_BYTES:
                raise ValueError(f"view {uri}: {path} is over {MAX_HTML_BYTES // (1024 * 1024)} MiB")
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as failure:
            raise ValueError(f"view {uri}: cannot read {path}: {failure}") from None
        origin = str(path)
    elif isinstance(html, str):
        text, origin = html, "the html string"
        if "<" not in html and html.strip().lower().endswith((".html", ".htm")):
            raise ValueError(f"view {uri}: html={html!r} looks like a file name; pass Path({html!r}) to read a file")
        if len(html.encode("utf-8", "surrogatepass")) > MAX_HTML_BYTES:
            raise ValueError(f"view {uri}: the html string is over {MAX_HTML_BYTES // (1024 * 1024)} MiB")
    else:
        raise TypeError(f"view {uri}: html is an HTML string or a pathlib.Path, not {type(html).__name__}")
    if not _DOCUMENT.match(text.lstrip("\ufeff")):
        raise ValueError(f"view {uri}: {origin} is not an HTML document (it must open with <!doctype html> or <html>)")
    return text


def declare(uri: str, html: str | os.PathLike[str], *, name: str | None, title: str | None, description: str | None,
            csp: Csp | Mapping[str, Sequence[str]] | None, permissions: Iterable[str] | Mapping[str, Any],
            prefers_border: bool | None, domain: str | None, scopes: Iterable[str]) -> tuple[View, Resource]:
    """The view and the registry resource that serves it, every value checked (policy.py)."""
    if not uri.startswith(SCHEME) or len(uri) == len(SCHEME):
        raise ValueError(f"a view's URI uses the ui:// scheme, such as ui://notes/dashboard; not {uri!r}")
    text = document(html, uri)
    meta: dict[str, Any] = {}
    if declared := csp_meta(csp, uri):
        meta["csp"] = declared
    if granted := permissions_meta(permissions, uri):
        meta["permissions"] = granted
    if (host := domain_meta(domain, uri)) is not None:
        meta["domain"] = host
    if prefers_border is not None:
        meta["prefersBorder"] = bool(prefers_border)
    contents: dict[str, Any] = {"uri": uri, "mimeType": MIME_TYPE, "text": text}
    if meta:
        contents["_meta"] = {"ui": meta}
    served = [contents]

    def read() -> list[dict[str, Any]]:
        return served

    resource = Resource(read, uri, name=name or uri[len(SCHEME):].rstrip("/").rsplit("/", 1)[-1] or uri,
                        title=title, description=description, mime_type=MIME_TYPE,
                        extra={"_meta": {"ui": meta}} if meta else None, scopes=tuple(scopes), inline=True)
    return View(uri, copy.deepcopy(meta)), resource
