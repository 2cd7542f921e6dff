"""Find the user's server from a target string: `package.module:attr` or `path/to/file.py[:attr]`."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

_DEFAULT_ATTRS = ("server", "mcp", "app")


class TargetError(ValueError):
    pass


def load_target(target: str) -> Any:
    module_part, _, attr = target.partition(":")
    if module_part.endswith(".py") or "/" in module_part:
        path = Path(module_part).resolve()
        if not path.is_file():
            raise TargetError(f"no such file: {module_part}")
        sys.path.insert(0, str(path.parent))
        spec = importlib.util.spec_from_file_location(path.stem, path)
        if spec is None or spec.loader is None:
            raise TargetError(f"cannot import {module_part}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[path.stem] = module
        spec.loader.exec_module(module)
    else:
        if "" not in sys.path and str(Path.cwd()) not in sys.path:
            sys.path.insert(0, str(Path.cwd()))  # as `python -m` and uvicorn do: modules resolve from here
        try:
            module = importlib.import_module(module_part)
        except ModuleNotFoundError as exc:
            raise TargetError(f"cannot import module {module_part!r}: {exc}") from None
    names = (attr,) if attr else _DEFAULT_ATTRS
    for name in names:
        if hasattr(module, name):
            return getattr(module, name)
    raise TargetError(f"{module_part} has no attribute {' or '.join(names)}")
