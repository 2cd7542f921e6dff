"""A view's `_meta.ui`: the origins it may reach (CSP), the browser features it asks for, its border.

The host builds the view's Content-Security-Policy from these lists, word for word
(`connect-src 'self' <connectDomains...>`), and grants the permissions on the sandboxed frame. So
Bosun checks each value when the view is declared, and refuses, naming the view and the value:

* an origin is `scheme://host[:port]`, nothing more: no path, no quotes, no spaces, no `;` or `,`
  (a value like `https://a.example; script-src *` would otherwise rewrite the host's policy), no `*`
  alone (a wildcard is a leading `*.` label of a host); at most 64 per list;
* `https` and `wss` anywhere; `http` and `ws` only for loopback hosts (a dev server), since a script or
  a socket reached in the clear can be changed on the way;
* permissions are the specification's four (`camera`, `microphone`, `geolocation`, `clipboardWrite`);
* `domain` (a host-specific dedicated origin) is a bare host name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bosun.apps.spec import PERMISSIONS

_ORIGIN = re.compile(r"^(https|wss|http|ws)://((?:\*\.)?[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}))*"
                     r"|\[[0-9A-Fa-f:.]+\])(?::(\d{1,5}))?$")
_HOST = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")
_LOOPBACK = re.compile(r"^(localhost|127(?:\.\d{1,3}){3}|\[::1\])$")
_MAX_DOMAINS = 64
_CSP_KEYS = {"connect_domains": "connectDomains", "resource_domains": "resourceDomains",
             "frame_domains": "frameDomains", "base_uri_domains": "baseUriDomains"}


@dataclass(frozen=True, slots=True)
class Csp:
    """The origins a view may reach beyond its own document; empty lists are the host's strict default.

    `connect_domains`: fetch, XHR and WebSocket (`connect-src`). `resource_domains`: scripts, styles,
    images, fonts and media (`script-src`, `style-src`, `img-src`, `font-src`, `media-src`).
    `frame_domains`: nested frames (`frame-src`). `base_uri_domains`: `<base href>` (`base-uri`)."""

    connect_domains: Sequence[str] = ()
    resource_domains: Sequence[str] = ()
    frame_domains: Sequence[str] = ()
    base_uri_domains: Sequence[str] = ()


def csp_meta(csp: Csp | Mapping[str, Sequence[str]] | None, view: str) -> dict[str, list[str]]:
    """`_meta.ui.csp`, checked. A mapping may use the specification's names (`connectDomains`) or Csp's."""
    if csp is None:
        return {}
    if isinstance(csp, Csp):
        lists: dict[str, Any] = {wire: getattr(csp, key) for key, wire in _CSP_KEYS.items()}
    else:
        lists = {}
        for key, value in csp.items():
            wire = _CSP_KEYS.get(key, key)
            if wire not in _CSP_KEYS.values():
                raise ValueError(f"view {view}: unknown CSP list {key!r}; expected {', '.join(_CSP_KEYS.values())}")
            lists[wire] = value
    declared: dict[str, list[str]] = {}
    for wire, domains in lists.items():
        if isinstance(domains, str):
            raise ValueError(f"view {view}: csp {wire} is a list of origins, not one string")
        checked = [_origin(domain, view, wire) for domain in domains]
        if len(checked) > _MAX_DOMAINS:
            raise ValueError(f"view {view}: csp {wire} names {len(checked)} origins; at most {_MAX_DOMAINS}")
        if checked:
            declared[wire] = checked
    return declared


def _origin(value: object, view: str, wire: str) -> str:
    found = _ORIGIN.match(value) if isinstance(value, str) else None
    if found is None:
        raise ValueError(f"view {view}: csp {wire} entry {str(value)[:100]!r} is not an origin "
                         "(scheme://host[:port], such as https://api.example.com or https://*.example.com)")
    scheme, host, port = found.groups()
    if port is not None and not 0 < int(port) < 65536:
        raise ValueError(f"view {view}: csp {wire} entry {value!r} has no valid port")
    if scheme in ("http", "ws") and not _LOOPBACK.match(host.lower()):
        raise ValueError(f"view {view}: csp {wire} entry {value!r} is plain {scheme}://: use {scheme}s:// "
                         "(plain http and ws are allowed for loopback development servers only)")
    return str(value)


def permissions_meta(permissions: Iterable[str] | Mapping[str, Any], view: str) -> dict[str, dict[str, Any]]:
    """`_meta.ui.permissions`: each requested feature as `{}` (the specification's form)."""
    if isinstance(permissions, str):
        raise ValueError(f"view {view}: permissions is a list of names, such as ['clipboard-write']")
    declared: dict[str, dict[str, Any]] = {}
    for name in permissions:
        wire = PERMISSIONS.get(name)
        if wire is None:
            raise ValueError(f"view {view}: unknown permission {str(name)[:60]!r}; expected camera, microphone, "
                             "geolocation or clipboardWrite")
        declared[wire] = {}
    return declared


def domain_meta(domain: str | None, view: str) -> str | None:
    if domain is not None and not _HOST.match(domain):
        raise ValueError(f"view {view}: domain {domain[:100]!r} is a bare host name (no scheme, path or port)")
    return domain
