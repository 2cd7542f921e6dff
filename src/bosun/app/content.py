"""Content blocks a tool, resource or prompt may return, and their conversion to MCP JSON.

Small frozen dataclasses rather than pydantic models: they are built on the hot
path by user code, and `to_json` is a plain dict literal.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

import orjson

CONTENT_TYPES = frozenset({"text", "image", "audio", "resource", "resource_link"})


def _b64(data: bytes | str) -> str:
    return data if isinstance(data, str) else base64.b64encode(data).decode()


@dataclass(frozen=True, slots=True)
class Text:
    text: str
    annotations: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        block: dict[str, Any] = {"type": "text", "text": self.text}
        if self.annotations:
            block["annotations"] = self.annotations
        return block


@dataclass(frozen=True, slots=True)
class Image:
    """An image; `data` is raw bytes (encoded for you) or a base64 string."""

    data: bytes | str
    mime_type: str = "image/png"
    annotations: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        block: dict[str, Any] = {"type": "image", "data": _b64(self.data), "mimeType": self.mime_type}
        if self.annotations:
            block["annotations"] = self.annotations
        return block


@dataclass(frozen=True, slots=True)
class Audio:
    data: bytes | str
    mime_type: str = "audio/wav"
    annotations: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        block: dict[str, Any] = {"type": "audio", "data": _b64(self.data), "mimeType": self.mime_type}
        if self.annotations:
            block["annotations"] = self.annotations
        return block


@dataclass(frozen=True, slots=True)
class EmbeddedResource:
    """A resource's contents inlined in a result: `text` or `blob` (bytes)."""

    uri: str
    text: str | None = None
    blob: bytes | None = None
    mime_type: str | None = None
    annotations: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        block: dict[str, Any] = {"type": "resource", "resource": resource_contents(self.uri, self.text, self.blob, self.mime_type)}
        if self.annotations:
            block["annotations"] = self.annotations
        return block


@dataclass(frozen=True, slots=True)
class ResourceLink:
    uri: str
    name: str
    description: str | None = None
    mime_type: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        block: dict[str, Any] = {"type": "resource_link", "uri": self.uri, "name": self.name, **self.extra}
        if self.description is not None:
            block["description"] = self.description
        if self.mime_type is not None:
            block["mimeType"] = self.mime_type
        return block


ContentBlock = Text | Image | Audio | EmbeddedResource | ResourceLink
BLOCK_CLASSES = (Text, Image, Audio, EmbeddedResource, ResourceLink)


def resource_contents(uri: str, text: str | None, blob: bytes | str | None, mime_type: str | None) -> dict[str, Any]:
    contents: dict[str, Any] = {"uri": uri}
    if mime_type:
        contents["mimeType"] = mime_type
    if blob is not None:
        contents["blob"] = _b64(blob)
    else:
        contents["text"] = text if text is not None else ""
    return contents


def is_content(value: object) -> bool:
    """A content block object, or a dict already shaped like one."""
    if isinstance(value, BLOCK_CLASSES):
        return True
    return type(value) is dict and value.get("type") in CONTENT_TYPES


def is_mixed(value: object) -> bool:
    """A list of content blocks, possibly with plain strings among them (those become text)."""
    return isinstance(value, (list, tuple)) and any(is_content(item) for item in value) and all(
        isinstance(item, str) or is_content(item) for item in value
    )


def block_json(value: Any) -> dict[str, Any]:
    if isinstance(value, BLOCK_CLASSES):
        return value.to_json()
    if type(value) is dict:
        return value
    return {"type": "text", "text": value if isinstance(value, str) else to_text(value)}


def to_text(value: Any) -> str:
    """How a non-content value reads as text: strings as they are, the rest as JSON."""
    if isinstance(value, str):
        return value
    return orjson.dumps(value, default=_fallback).decode()


def _fallback(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    if dump is not None:
        return dump(mode="json")
    return str(value)


def to_content(value: Any) -> list[dict[str, Any]]:
    """Turn what a function returned into a list of content blocks."""
    if value is None:
        return []
    if is_mixed(value):
        return [block_json(item) for item in value]
    if is_content(value):
        return [block_json(value)]
    return [{"type": "text", "text": to_text(value)}]
