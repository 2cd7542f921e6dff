"""Security settings, resolved once at start-up into one frozen object.

`Settings.security_options()` builds it; everything in `bosun.security` reads
from it and nothing re-reads the environment. Validation that needs several
settings at once (an issuer for JWTs, a resource URI for audiences, auth on any
non-loopback address) happens here, so a misconfigured server fails at start-up
with a message naming the variables, not at its first request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

# Asymmetric algorithms only: with an HMAC algorithm a public key would double as the shared secret.
ASYMMETRIC_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
AUTH_SETTINGS = ("BOSUN_AUTH_ISSUER", "BOSUN_AUTH_JWKS_URL", "BOSUN_AUTH_PUBLIC_KEYS", "BOSUN_AUTH_INTROSPECTION_URL",
                 "BOSUN_AUTH_API_KEYS_FILE")


class SecurityConfigError(ValueError):
    """A security setting that cannot work; the message names the variables."""


@dataclass(frozen=True, slots=True)
class RateLimit:
    """`count` requests per `seconds`, as a sustained rate with a burst of `count`."""

    count: int
    seconds: float

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        """'100/minute', '10/s', '5000/hour', '20/30s'."""
        units = {"s": 1.0, "sec": 1.0, "second": 1.0, "m": 60.0, "min": 60.0, "minute": 60.0, "h": 3600.0,
                 "hour": 3600.0, "d": 86400.0, "day": 86400.0}
        try:
            count_text, _, period = text.strip().partition("/")
            count = int(count_text)
            period = period.strip().lower() or "s"
            digits = period.rstrip("abcdefghijklmnopqrstuvwxyz")
            unit = period[len(digits):]
            seconds = float(digits or 1) * units[unit.rstrip("s") if unit not in units else unit]
        except (ValueError, KeyError):
            raise ValueError(f"rate limit {text!r}: expected COUNT/PERIOD such as 100/minute, 10/s or 20/30s") from None
        if count < 1 or seconds <= 0:
            raise ValueError(f"rate limit {text!r}: count and period must be positive")
        return cls(count, seconds)

    def __str__(self) -> str:
        return f"{self.count}/{self.seconds:g}s"


@dataclass(frozen=True, slots=True)
class SecurityOptions:
    """Everything the security layer needs; `enabled` is False when the server runs open."""

    enabled: bool = False
    open_on_purpose: bool = False  # BOSUN_AUTH=none: serve open on any address
    resource: str = ""
    issuer: str | None = None
    authorization_servers: tuple[str, ...] = ()
    jwks_url: str | None = None
    public_keys: tuple[str, ...] = ()
    algorithms: tuple[str, ...] = ASYMMETRIC_ALGORITHMS
    # BOSUN_AUTH_JWT_TYPES: the JWT `typ` headers accepted, normalized (lower case, no "application/"; "untyped": none).
    jwt_types: frozenset[str] = frozenset({"at+jwt", "jwt", "untyped"})
    audiences: tuple[str, ...] = ()
    leeway_seconds: float = 30.0
    jwks_cache_seconds: float = 600.0
    jwks_min_refresh_seconds: float = 30.0
    introspection_url: str | None = None
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    introspection_cache_seconds: float = 30.0
    # Per client address: negative introspection answers allowed before its unknown tokens get 429 (None: no budget).
    introspection_failures: RateLimit | None = RateLimit(30, 60.0)
    api_keys_file: str | None = None
    http_timeout_seconds: float = 3.0
    required_scopes: frozenset[str] = frozenset()
    scopes_supported: tuple[str, ...] | None = None
    hide_unauthorized: bool = True
    resource_name: str | None = None
    resource_documentation: str | None = None
    resource_policy_uri: str | None = None
    resource_tos_uri: str | None = None
    rate_limit: RateLimit | None = None
    audit: str = "auto"  # all (every call and refusal), refusals, off; auto: refusals when authenticating
    audit_arguments: bool = False
    audit_log: str = "stderr"  # stderr, stdout, a file path, or logging

    @property
    def oauth(self) -> bool:
        """Whether bearer tokens from an authorization server are accepted (and metadata is served)."""
        return bool(self.jwks_url or self.public_keys or self.introspection_url or self.issuer)


def jwt_types(value: Any) -> Any:
    """BOSUN_AUTH_JWT_TYPES, comma-separated, normalized as the verifier compares `typ`: case and an "application/"
    prefix do not matter (media types, RFC 7515 section 4.1.9). The default accepts the generic `JWT` and untyped
    tokens, which Keycloak, Entra ID and Auth0's default profile issue (docs/security.md, "Token types")."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list):
        return value
    names = [str(item).strip().lower().removeprefix("application/") for item in items if str(item).strip()]
    unknown = [name for name in names if name not in ("at+jwt", "jwt", "untyped")]
    if unknown:
        raise ValueError(f"the types are at+jwt (always accepted), JWT and untyped, not {', '.join(unknown)}")
    return sorted(set(names) | {"at+jwt"})


def canonical_resource(url: str) -> str:
    """RFC 8707 canonical form: absolute http(s), lower-case scheme and host, no fragment, no trailing slash."""
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise SecurityConfigError(f"BOSUN_RESOURCE_URL={url!r}: must be an absolute http(s) URI such as https://mcp.example.com/mcp")
    if parts.fragment:
        raise SecurityConfigError(f"BOSUN_RESOURCE_URL={url!r}: must not contain a fragment")
    path = parts.path.rstrip("/")
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, parts.query, ""))


def metadata_url(resource: str) -> str:
    """RFC 9728 section 3.1: the well-known segment goes between the authority and the resource's path."""
    parts = urlsplit(resource)
    return urlunsplit((parts.scheme, parts.netloc, "/.well-known/oauth-protected-resource" + parts.path, parts.query, ""))


def _read_key(item: str) -> str:
    if "-----BEGIN" in item:
        return item
    try:
        with open(item, encoding="ascii") as handle:
            return handle.read()
    except OSError as exc:
        raise SecurityConfigError(f"BOSUN_AUTH_PUBLIC_KEYS: cannot read {item!r}: {exc.strerror}") from None


def resolve_security(wanted: SecurityOptions, bind_host: str, port: int, path: str, *, loopback: bool,
                     explicitly_open: bool) -> SecurityOptions:
    """Check the settings together and fill in what follows from them.

    Off by default on loopback; on any other address a server with no credential
    source refuses to start unless BOSUN_AUTH=none says running open is intended.
    """
    from dataclasses import replace

    configured = bool(wanted.oauth or wanted.api_keys_file)
    if explicitly_open:
        if configured:
            raise SecurityConfigError("BOSUN_AUTH=none conflicts with the authentication settings also given "
                                      f"(one of {', '.join(AUTH_SETTINGS)}); remove one or the other")
        return replace(wanted, enabled=False, open_on_purpose=True, audit=_audit_mode(wanted.audit, False))
    if not configured:
        if not loopback:
            raise SecurityConfigError(
                f"refusing to serve without authentication on {bind_host}: set {', '.join(AUTH_SETTINGS[:2])} "
                f"(OAuth), BOSUN_AUTH_INTROSPECTION_URL or BOSUN_AUTH_API_KEYS_FILE, or set BOSUN_AUTH=none "
                "to run open on purpose (docs/security.md)")
        return replace(wanted, enabled=False, audit=_audit_mode(wanted.audit, False))
    if (wanted.jwks_url or wanted.public_keys) and not wanted.issuer:
        raise SecurityConfigError("BOSUN_AUTH_ISSUER is required with BOSUN_AUTH_JWKS_URL or BOSUN_AUTH_PUBLIC_KEYS: "
                                  "a token's iss must match it exactly")
    if wanted.introspection_url and not (wanted.client_id and wanted.client_secret):
        raise SecurityConfigError("BOSUN_AUTH_INTROSPECTION_URL needs BOSUN_AUTH_CLIENT_ID and BOSUN_AUTH_CLIENT_SECRET "
                                  "(the resource server's own credentials at the introspection endpoint)")
    resource = wanted.resource
    if resource:
        resource = canonical_resource(resource)
    elif wanted.oauth:
        if not loopback:
            raise SecurityConfigError("BOSUN_RESOURCE_URL is required with OAuth on a non-loopback address: the public "
                                      "URI clients use for this server, which tokens must name as their audience")
        host = "127.0.0.1" if bind_host in ("localhost", "::1", "[::1]") else bind_host
        resource = f"http://{host}:{port}{path if path != '/' else ''}"
    servers = wanted.authorization_servers or ((wanted.issuer,) if wanted.issuer else ())
    if wanted.oauth and not servers:
        raise SecurityConfigError("BOSUN_AUTH_SERVERS (or BOSUN_AUTH_ISSUER) is required: protected resource metadata "
                                  "must name at least one authorization server")
    if "offline_access" in wanted.required_scopes:
        raise SecurityConfigError("BOSUN_AUTH_SCOPES must not contain offline_access: refresh tokens are not a resource requirement")
    return replace(
        wanted, enabled=True, resource=resource, authorization_servers=servers, audit=_audit_mode(wanted.audit, True),
        # The canonical URI has no trailing slash; tokens minted for the slashed form are the same resource.
        audiences=wanted.audiences or ((resource, resource + "/") if resource else ()),
        public_keys=tuple(_read_key(item) for item in wanted.public_keys),
    )


def _audit_mode(wanted: str, authenticating: bool) -> str:
    """BOSUN_AUDIT: `all` records every call and refusal; `refusals` only refusals; `auto` is `refusals` when
    authenticating, else `off`. Full call records are opt-in because they cost several per cent of a trivial
    tool's throughput (docs/benchmarks.md); the shipped manifests turn them on."""
    mode = {"true": "all", "false": "off"}.get(wanted, wanted)
    if mode == "auto":
        return "refusals" if authenticating else "off"
    return mode
