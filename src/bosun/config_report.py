"""What `bosun config` prints: every setting's effective value and where it came from, secrets hidden.

Kept apart from `bosun.config` (which resolves settings at every start-up) because only the command needs it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any, get_args

from pydantic import SecretStr

from bosun.config import Settings, env_names
from bosun.config_sources import existing_secrets_dir, read_dotenv, secrets_path


def describe(settings: Settings) -> list[tuple[str, str, str]]:
    """(variable, effective value with secrets redacted, where it came from) for `bosun config`.

    A secret shows only whether it is set. The first row is the secrets directory, and whether it exists.
    """
    dotenv = read_dotenv()
    secrets = existing_secrets_dir(dotenv)
    where = next((source for source, values in (("environment", os.environ), (".env", dotenv))
                  if values.get("BOSUN_SECRETS_DIR")), "default")
    found = "exists" if secrets else "missing: no secret files read"
    rows = [("BOSUN_SECRETS_DIR", f"{secrets_path(dotenv)} ({found})", where)]
    secret_files = os.listdir(secrets) if secrets else []
    for field in Settings.model_fields:
        value = getattr(settings, field)
        shown = _secret_state(value) if _is_secret(field) else _shown(value)
        names = env_names(field)
        name = names[0]
        if _names_in(names, os.environ):
            source = "environment"
        elif _names_in(names, dotenv):
            source = ".env"
        elif _names_in(names, secret_files):
            source = f"secret file in {secrets}"
        else:
            source = "default"
        rows.append((name, shown, source))
    return rows


def _is_secret(field: str) -> bool:
    annotation = Settings.model_fields[field].annotation
    return annotation is SecretStr or SecretStr in get_args(annotation)


def _secret_state(value: SecretStr | list[SecretStr]) -> str:
    """Whether a secret is set, and nothing else about it (not even its length)."""
    filled = value.get_secret_value() if isinstance(value, SecretStr) else value
    return "<set, secret>" if filled else "<unset>"


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    return "" if value is None else str(value)


def _names_in(names: list[str], keys: Iterable[str]) -> bool:
    """Whether any of `names` is among `keys`, ignoring case as the sources do."""
    wanted = {name.lower() for name in names}
    return any(key.lower() in wanted for key in keys)
