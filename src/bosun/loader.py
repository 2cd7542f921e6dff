"""Find the user's server from a target string: `package.module:attr` or `path/to/file.py[:attr]`.

Without `:attr`, the module's `server`, `mcp` or `app`, else its only `bosun.Server`.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

_DEFAULT_ATTRS = ("server", "mcp", "app")


class TargetError(ValueError):
    pass


_preset: dict[str, Any] = {}


def preset(target: str, value: Any) -> None:
    """Answer `target` with `value` in this process: `Server.run()` serves the object its script already built,
    rather than importing the script a second time (worker processes still import it by its path)."""
    _preset[target] = value


def load_target(target: str) -> Any:
    if target in _preset:
        return _preset[target]
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
    if attr:
        raise TargetError(f"{module_part} has no attribute {attr}")
    return _only_server(module, module_part)


def _only_server(module: Any, module_part: str) -> Any:
    """Without a `server`, `mcp` or `app`: the module's one `bosun.Server`, whatever its name; several are an error."""
    from bosun.servable import Servable

    found = [name for name, value in vars(module).items() if isinstance(value, Servable) and not name.startswith("_")]
    if len(found) == 1:
        return getattr(module, found[0])
    if found:
        raise TargetError(f"{module_part} holds several servers ({', '.join(found)}) and none is called "
                          f"{' or '.join(_DEFAULT_ATTRS)}: name one, as {' or '.join(f'{module_part}:{name}' for name in found)}")
    raise TargetError(f"{module_part} has no attribute {' or '.join(_DEFAULT_ATTRS)} (and holds no bosun.Server): "
                      f"name the object to serve, as {module_part}:attr")
