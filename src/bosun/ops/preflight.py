"""`bosun check`: what must be true before a pod is worth starting, said loudly.

The trust store check exists because an image without CA certificates does not
fail at start-up: every outbound TLS call fails, often silently, for hours.
"""

from __future__ import annotations

import asyncio
import ssl

from bosun.config import Settings


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


async def _dependencies(target: str, settings: Settings) -> list[tuple[bool, str, str]]:
    from bosun.loader import load_target
    from bosun.server import Server

    server = load_target(target)
    if not isinstance(server, Server):
        return [(True, "dependencies", f"{target} is not a bosun.Server; no readiness checks to run")]
    server.asgi_app(settings=settings)  # builds the database, cache and the full list of readiness checks
    results = []
    for hook in server.on_startup:
        await hook()
    for check in server.ready_checks:
        try:
            value = await asyncio.wait_for(check.fn(), check.timeout or 5.0)
            ok, detail = value is not False, "ok" if value is not False else "returned False"
        except Exception as exc:
            ok, detail = False, f"{type(exc).__name__}: {exc}"
        results.append((ok or not check.critical, f"dependency {check.name}", detail if ok else f"{detail}"))
    for hook in server.on_shutdown:
        await hook()
    await server.state.close()
    return results


def run_preflight(settings: Settings, target: str | None) -> int:
    lines: list[tuple[bool, str, str]] = [(True, "configuration", f"valid ({settings.environment})")]
    lines.append(authentication(settings))
    ok, detail = trust_store()
    lines.append((ok, "tls trust store", detail))
    if target:
        try:
            lines.extend(asyncio.run(_dependencies(target, settings)))
        except Exception as exc:
            lines.append((False, "target", f"{type(exc).__name__}: {exc}"))
    for ok, name, detail in lines:
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}")
    return 0 if all(ok for ok, _, _ in lines) else 1
