"""The reference server (examples/notes) as an ASGI app, for the search benchmark."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "notes"))

from server import server  # noqa: E402

app = server.asgi_app()
