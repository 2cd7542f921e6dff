"""Checks on a 2026-07-28 request: headers against body, and the per-request `_meta`.

Every failure maps to the spec's code and HTTP status: missing `_meta` fields are
-32602/400, header disagreements -32020/400, unknown versions -32022/400.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from bosun.protocol.call import META_CLIENT_CAPABILITIES, META_PROTOCOL_VERSION
from bosun.protocol.errors import bounded, header_mismatch, invalid_params, unsupported_version
from bosun.protocol.versions import ALL_VERSIONS, LEGACY_VERSIONS, MODERN_VERSIONS, is_modern
from bosun.transport.http.wire import Headers

NAMED_METHODS = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}
# Tasks (SEP-2663): the task id, checked when sent. Not required: clients in use (FastMCP's) leave it out, and the
# task is found wherever the request lands, since every replica reads the same store.
NAMED_IF_SENT = {"tasks/get": "taskId", "tasks/update": "taskId", "tasks/cancel": "taskId"}
_SENTINEL_START = "=?base64?"
_SENTINEL_END = "?="


def decode_header_value(value: str) -> str:
    """Undo the `=?base64?...?=` encoding clients use for values unsafe in a header."""
    if value.startswith(_SENTINEL_START) and value.endswith(_SENTINEL_END) and len(value) >= 11:
        try:
            return base64.b64decode(value[9:-2], validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise header_mismatch("a Base64-encoded header value is malformed") from None
    # RFC 9110 field values: visible ASCII, space and tab (checked in C, not per character in Python).
    if not value.isascii() or not value.replace("\t", " ").isprintable():
        raise header_mismatch("a header value contains invalid characters")
    return value


_NO_VERSION = (f"required header MCP-Protocol-Version is missing: send MCP-Protocol-Version: {MODERN_VERSIONS[0]} "
               f"with params._meta {{io.modelcontextprotocol/protocolVersion, io.modelcontextprotocol/clientCapabilities}}, "
               f"or, for a 2025 session ({', '.join(LEGACY_VERSIONS)}), send initialize first")


def validate_envelope(headers: Headers, message: dict[str, Any], params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Return (protocol version, client capabilities) or raise the spec's error."""
    header_version = headers.get(b"mcp-protocol-version")
    if header_version is None:
        raise header_mismatch(_NO_VERSION)
    meta = params.get("_meta")
    if (type(meta) is not dict or META_PROTOCOL_VERSION not in meta) and not is_modern(header_version):
        raise unsupported_version(header_version, list(ALL_VERSIONS))  # say so first, even without `_meta`
    if type(meta) is not dict:
        raise invalid_params("Missing required _meta: io.modelcontextprotocol/protocolVersion and clientCapabilities", http_status=400)
    version = meta.get(META_PROTOCOL_VERSION)
    if version is None:
        raise invalid_params(f"Missing required _meta field {META_PROTOCOL_VERSION}", http_status=400)
    if version != header_version:
        raise header_mismatch(f"MCP-Protocol-Version header value {bounded(repr(header_version))} does not match "
                              f"body value {bounded(repr(version))}")
    if type(version) is not str or not is_modern(version):
        raise unsupported_version(version, list(ALL_VERSIONS))
    capabilities = meta.get(META_CLIENT_CAPABILITIES)
    if type(capabilities) is not dict:
        raise invalid_params(f"Missing required _meta field {META_CLIENT_CAPABILITIES}", http_status=400)
    method = message["method"]
    header_method = headers.get(b"mcp-method")
    if header_method is None:
        raise header_mismatch("required header Mcp-Method is missing")
    if header_method != method:
        raise header_mismatch(f"Mcp-Method header value {bounded(repr(header_method))} does not match body value "
                              f"{bounded(repr(method))}")
    field = NAMED_METHODS.get(method)
    header_name = headers.get(b"mcp-name") if field is not None else None
    if field is None and (field := NAMED_IF_SENT.get(method)) is not None:
        header_name = headers.get(b"mcp-name")
        if header_name is None:
            return version, capabilities
    if field is not None:
        if header_name is None:
            raise header_mismatch("required header Mcp-Name is missing")
        body_name = params.get(field)
        if decode_header_value(header_name) != body_name:
            raise header_mismatch(f"Mcp-Name header value {bounded(repr(header_name))} does not match body value "
                                  f"{bounded(repr(body_name))}")
    return version, capabilities


def _same(header_value: str, body_value: Any) -> bool:
    if isinstance(body_value, bool):
        return header_value == ("true" if body_value else "false")
    if isinstance(body_value, (int, float)):
        try:
            return float(header_value) == float(body_value)
        except ValueError:
            return False
    return bool(header_value == body_value)


def validate_param_headers(headers: Headers, mirrored: tuple[tuple[str, tuple[str, ...]], ...], arguments: Any) -> None:
    """Check `Mcp-Param-*` headers for tool arguments marked `x-mcp-header` in the input schema."""
    sent = headers.params or {}
    for header, path in mirrored:
        value: Any = arguments
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        received = sent.get(header)
        if value is None:
            continue
        if received is None:
            raise header_mismatch(f"required header Mcp-Param-{bounded(header)} is missing")
        if not _same(decode_header_value(received), value):
            raise header_mismatch(f"Mcp-Param-{bounded(header)} header value does not match body value")




def validate_meta(params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """stdio's 2026-07-28 checks: everything travels in `_meta`, with no header layer to compare against."""
    meta = params.get("_meta")
    if type(meta) is not dict or META_PROTOCOL_VERSION not in meta:
        raise invalid_params(f"Missing required _meta field {META_PROTOCOL_VERSION}")
    version = meta[META_PROTOCOL_VERSION]
    if type(version) is not str or not is_modern(version):
        raise unsupported_version(version, list(ALL_VERSIONS))
    capabilities = meta.get(META_CLIENT_CAPABILITIES)
    if type(capabilities) is not dict:
        raise invalid_params(f"Missing required _meta field {META_CLIENT_CAPABILITIES}")
    return version, capabilities
