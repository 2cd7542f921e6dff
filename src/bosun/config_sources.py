"""Where settings come from: the environment, a `.env` file and a directory of secret files.

This module only finds raw strings; `bosun.config` validates them. It replaces
pydantic-settings, which cost a plain server about 10 ms of its cold start and
1 MB of its memory (docs/benchmarks.md, "Footprint against its floor"), and it
keeps that library's rules, which the documentation and deployments rely on:

- Names are matched case-insensitively. A setting has one or more variable names
  (`BOSUN_PORT`; `LOG_LEVEL` or `BOSUN_LOG_LEVEL`); the first one found wins.
- Sources, strongest first: the environment, `.env` in the working directory, the
  secrets directory. Each setting is taken whole from the strongest source that has it.
- A secret file is named like the variable (`redis_url`, `BOSUN_STATE_KEYS`); its
  content is stripped of surrounding whitespace. A file whose real path lies outside
  the directory (a symlink pointing elsewhere) is refused with a warning, as is a
  directory where a file was expected. Kubernetes' own links (`..data`) stay inside.
  A secret file that cannot be read (permissions, not UTF-8) is a `SourceError`.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path

DEFAULT_SECRETS_DIR = "/run/secrets/bosun"
DOTENV = Path(".env")


class SourceError(ValueError):
    """A source exists but cannot be read; the message names it, never its content."""


def read_dotenv(path: Path = DOTENV) -> dict[str, str]:
    """The `.env` file (quotes, `export`, comments, as python-dotenv reads them); empty when there is none.

    python-dotenv is imported only when the file exists: most deployments have none."""
    if not path.is_file():
        return {}
    from dotenv import dotenv_values

    return {key: value or "" for key, value in dotenv_values(path).items()}


def secrets_path(dotenv: Mapping[str, str] | None = None) -> str:
    """The secrets directory named by BOSUN_SECRETS_DIR (environment, then `.env`), whether or not it exists."""
    if dotenv is None:
        dotenv = read_dotenv()
    return os.environ.get("BOSUN_SECRETS_DIR") or dotenv.get("BOSUN_SECRETS_DIR") or DEFAULT_SECRETS_DIR


def existing_secrets_dir(dotenv: Mapping[str, str] | None = None) -> str | None:
    path = secrets_path(dotenv)
    return path if os.path.isdir(path) else None


def read_sources(names_by_field: Mapping[str, Iterable[str]]) -> dict[str, str]:
    """{field: raw value} for every setting that some source sets, strongest source first."""
    environment = {key.lower(): value for key, value in os.environ.items()}
    dotenv = read_dotenv()
    lowered_dotenv = {key.lower(): value for key, value in dotenv.items()}
    secrets = _SecretFiles(existing_secrets_dir(dotenv))
    found: dict[str, str] = {}
    for field, names in names_by_field.items():
        lowered = [name.lower() for name in names]
        for source in (environment, lowered_dotenv):
            value = next((source[name] for name in lowered if name in source), None)
            if value is not None:
                found[field] = value
                break
        else:
            secret = next((value for name in lowered if (value := secrets.read(name)) is not None), None)
            if secret is not None:
                found[field] = secret
    return found


class _SecretFiles:
    """One directory of secret files, listed once, read on demand."""

    def __init__(self, directory: str | None) -> None:
        self._root = Path(directory).resolve() if directory else None
        self._entries: dict[str, Path] = {}
        if directory:
            try:
                self._entries = {entry.name.lower(): Path(directory) / entry.name for entry in os.scandir(directory)}
            except OSError as exc:
                raise SourceError(f"cannot list the secrets directory {directory}: {exc.strerror}") from None

    def read(self, lowered_name: str) -> str | None:
        path = self._entries.get(lowered_name)
        if path is None or self._root is None:
            return None
        try:
            resolved = path.resolve()
        except (OSError, RuntimeError) as exc:  # a symlink loop
            warnings.warn(f'secret file "{path}" could not be resolved: {exc}', stacklevel=2)
            return None
        if self._root not in resolved.parents:
            warnings.warn(f'secret file "{path}" resolves outside of "{self._root}" and is ignored', stacklevel=2)
            return None
        if not resolved.is_file():
            warnings.warn(f'"{path}" is not a file and is ignored', stacklevel=2)
            return None
        try:
            return resolved.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SourceError(f"cannot read the secret file {path}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise SourceError(f"the secret file {path} is not UTF-8 text") from None
