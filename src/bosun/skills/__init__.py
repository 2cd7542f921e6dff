"""Agent Skills served over MCP: the `io.modelcontextprotocol/skills` extension (SEP-2640).

`Server.skills(directory)` (bosun/extending.py) loads a directory of skills with `loader.load`, puts
their files in the registry as resources (`items`) and serves `skills/list`, `skills/get` and
`resources/directory/read` (`extension`). Limits and naming rules live in `limits`, the frontmatter
in `frontmatter` and `yaml12`, the safe walk and reads in `files`. This package reaches the server
through the extensions seam (app/extensions.py) and the registry only.
"""

from bosun.skills.files import SkillError
from bosun.skills.model import Skill, SkillFile

__all__ = ["Skill", "SkillError", "SkillFile"]
