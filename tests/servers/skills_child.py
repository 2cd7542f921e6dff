"""A Bosun server that serves a directory of skills and nothing else: a gateway's backend (tests/test_gateway_skills.py).

Run as `bosun serve tests/servers/skills_child.py --transport stdio`. It serves SKILLS_DIR, by default
examples/skills (found from this file, so any cwd works), one skill per page so a gateway has to follow
its cursor.
"""

import os
from pathlib import Path

from bosun import Server

server = Server("skills-child", page_size=1)
server.skills(os.environ.get("SKILLS_DIR") or Path(__file__).resolve().parents[2] / "examples" / "skills")
