"""Origin and Host checks that stop browsers being turned against a server (DNS rebinding).

Rules, in order:
* No `Origin` header (every non-browser client): allowed.
* `Origin` listed in `BOSUN_ALLOWED_ORIGINS`, or same-origin with the request's
  Host, or local while the server is bound to loopback: allowed. Anything else: 403.
* `Host`: checked only when the server is bound to loopback (or a list is given):
  it must be local or listed, else 421. A server bound to 0.0.0.0 behind a
  Kubernetes Service or an ingress needs no setting.
Each rejection names the setting that would allow the request.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from bosun.transport.http.options import LOOPBACK_HOSTS, HttpOptions


def _host_only(authority: str) -> str:
    """'example.com:8080' -> 'example.com'; '[::1]:80' -> '[::1]'."""
    if authority.startswith("["):
        return authority.split("]", 1)[0] + "]"
    return authority.rsplit(":", 1)[0] if authority.count(":") == 1 else authority


class Guard:
    __slots__ = ("_origins", "_any_origin", "_hosts", "_check_hosts", "_loopback", "_good_hosts")

    def __init__(self, options: HttpOptions) -> None:
        self._any_origin = "*" in options.allowed_origins
        self._origins = frozenset(origin.rstrip("/").lower() for origin in options.allowed_origins)
        self._loopback = options.loopback
        listed = frozenset(host.lower() for host in options.allowed_hosts)
        self._check_hosts = "*" not in listed and (self._loopback or bool(listed))
        self._hosts = listed
        self._good_hosts: set[str] = set()  # Host values already accepted: the check is per request
    def check_host(self, host: str | None) -> str | None:
        """None when fine, else the reason for a 421."""
        if not self._check_hosts:
            return None
        if host is None:
            return "Missing Host header"
        if host in self._good_hosts:
            return None
        problem = self._judge_host(host)
        if problem is None and len(self._good_hosts) < 256:
            self._good_hosts.add(host)
        return problem

    def _judge_host(self, host: str) -> str | None:
        host = host.lower()
        if host in self._hosts or _host_only(host) in self._hosts:
            return None
        if self._loopback and _host_only(host) in LOOPBACK_HOSTS:
            return None
        return f"Host {host!r} is not allowed; add it to BOSUN_ALLOWED_HOSTS"

    def check_origin(self, origin: str | None, host: str | None) -> str | None:
        """None when fine, else the reason for a 403."""
        if origin is None or self._any_origin:
            return None
        origin = origin.rstrip("/").lower()
        if origin in self._origins:
            return None
        try:
            authority = urlsplit(origin).netloc
        except ValueError:  # "http://[::1" and the like: not an origin anyone may claim
            return "Origin is malformed"
        if host is not None and authority == host.lower():
            return None
        if self._loopback and _host_only(authority) in LOOPBACK_HOSTS:
            return None
        return f"Origin {origin!r} is not allowed; add it to BOSUN_ALLOWED_ORIGINS"
