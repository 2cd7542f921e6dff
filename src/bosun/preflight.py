"""`bosun check`: what must be true before a pod is worth starting, said loudly.

The trust store check exists because an image without CA certificates does not
fail at start-up: every outbound TLS call fails, often silently, for hours.

Each line is `ok` (it passed), `WARN` (a non-critical readiness check failed, so the
server would serve, as /ready would stay 200; or a `BOSUN_*` variable sets nothing) or
`FAIL`; nothing that failed is ever `ok`.
Exit code 0 without a FAIL, 1 with one, 2 when the configuration is invalid (as
`bosun serve` would exit).
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from bosun.config import Settings, unknown_variables

Line = tuple[str, str, str]  # (ok | WARN | FAIL | skip, what, detail)


def trust_store() -> tuple[bool, str]:
    paths = ssl.get_default_verify_paths()
    try:
        context = ssl.create_default_context()
    except ssl.SSLError as exc:
        return False, f"the TLS trust store does not load: {exc}"
    count = context.cert_store_stats().get("x509_ca", 0)
    if count == 0:
        # OpenSSL loads a CA directory lazily; count what is there instead.
        import os

        directory = paths.capath
        if directory and os.path.isdir(directory):
            count = sum(1 for name in os.listdir(directory) if name.endswith((".0", ".pem", ".crt")))
    if count == 0:
        return False, (f"no CA certificates in the trust store (cafile={paths.cafile}, capath={paths.capath}): "
                       "outbound TLS calls will fail; install ca-certificates in the image")
    return True, f"{count} CA certificates (cafile={paths.cafile}, capath={paths.capath})"


def authentication(settings: Settings) -> tuple[bool, str, str]:
    """Whether the security settings hold together, and what the server will accept."""
    from bosun.config import ConfigError

    try:
        options = settings.security_options()
    except ConfigError as exc:
        return False, "authentication", str(exc)
    if not options.enabled:
        where = "on purpose (BOSUN_AUTH=none)" if options.open_on_purpose else f"on loopback ({settings.host})"
        return True, "authentication", f"off: serving open {where}"
    kinds = [name for name, on in (("JWT", options.issuer and (options.jwks_url or options.public_keys or not options.introspection_url)),
                                   ("introspection", options.introspection_url), ("API keys", options.api_keys_file)) if on]
    return True, "authentication", f"{', '.join(kinds)}; resource {options.resource or '-'}"


async def _dependencies(target: str, settings: Settings) -> list[Line]:
    from bosun.loader import load_target
    from bosun.servable import Servable

    loaded = load_target(target)
    if not isinstance(loaded, Servable):
        return [("ok", "dependencies", f"{target} is not a bosun.Server; no readiness checks to run")]
    server: Any = loaded  # built by asgi_app below: its checks and state are not part of Servable
    server.asgi_app(settings=settings)  # builds the database, cache and the full list of readiness checks
    results = []
    for hook in server.on_startup:
        await hook()
    for check in server.ready_checks:
        timeout = check.timeout or settings.readiness_timeout
        try:
            passed = await asyncio.wait_for(check.fn(), timeout) is not False
            detail = "ok" if passed else "returned False"
        except TimeoutError:
            passed, detail = False, f"no answer within {timeout:g}s"
        except Exception as exc:
            passed, detail = False, f"{type(exc).__name__}: {exc}"
        status = "ok" if passed else "FAIL" if check.critical else "WARN"
        results.append((status, f"dependency {check.name}", detail if passed or check.critical else f"{detail} (not critical)"))
    for hook in server.on_shutdown:
        await hook()
    await server.state.close()
    return results


def run_preflight(settings: Settings, target: str | None) -> int:
    valid, what, detail = authentication(settings)  # configuration too: `bosun serve` would refuse it (exit 2)
    lines: list[Line] = [("ok", "configuration", f"valid ({settings.environment})") if valid
                         else ("FAIL", "configuration", detail)]
    lines.extend(("WARN", "configuration", warning) for warning in unknown_variables())
    if valid:
        lines.append(("ok", what, detail))
    ok, detail = trust_store()
    lines.append(("ok" if ok else "FAIL", "tls trust store", detail))
    if target and not valid:
        lines.append(("skip", "target", "not loaded: the configuration is invalid"))
    elif target:
        try:
            lines.extend(asyncio.run(_dependencies(target, settings)))
        except Exception as exc:
            lines.append(("FAIL", "target", f"{type(exc).__name__}: {exc}"))
    for status, name, detail in lines:
        print(f"{status:<4} {name}: {detail}")
    if not valid:
        return 2
    return 1 if any(status == "FAIL" for status, _, _ in lines) else 0
