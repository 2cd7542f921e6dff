"""Loading a skills directory: find the skills, hold each to SEP-2640's limits, read and digest their files.

A skill is any directory with a `SKILL.md`: a directory of skills (`skills/pdf-processing/SKILL.md`),
one skill (the directory itself has a `SKILL.md`), organizational levels without one
(`skills/acme/billing/refunds/SKILL.md` is the skill `refunds` at `skill://acme/billing/refunds`), and
skills nested in skills (whose files belong to both). Files outside every skill are not served.
Every problem raises `SkillError` naming the file, before anything is served: the limits are checked
on sizes from the walk before a byte is read, and again on what was read.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from bosun.skills.files import Found, SkillError, read, walk
from bosun.skills.frontmatter import parse
from bosun.skills.limits import MAX_BYTES_PER_SKILL, MAX_FILES_PER_SKILL, SKILL_FILE, prefix_problem
from bosun.skills.model import Skill, SkillFile, skill_uri, uri_of
from bosun.skills.yaml12 import FrontmatterError


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB ({size:,} bytes)"


def _members(files: list[Found], directory: str) -> list[Found]:
    """The files of the skill at `directory` ('' for the skills directory itself), SKILL.md first."""
    if not directory:
        members = list(files)
    else:
        start = directory + "/"
        members = [found for found in files if found.path.startswith(start)]
    own = f"{directory}/{SKILL_FILE}" if directory else SKILL_FILE
    return sorted(members, key=lambda found: (found.path != own, found.path))


def _check_limits(members: list[Found], where: str) -> None:
    if len(members) > MAX_FILES_PER_SKILL:
        raise SkillError(f"{where}: the skill has {len(members)} files, more than the {MAX_FILES_PER_SKILL} SEP-2640 allows per "
                         f"skill (SKILL.md and nested skills' files included)")
    total = sum(found.size for found in members)
    if total > MAX_BYTES_PER_SKILL:
        largest = max(members, key=lambda found: found.size)
        raise SkillError(f"{where}: the skill's files hold {_mib(total)}, more than the 16 MiB SEP-2640 allows per skill "
                         f"(the largest is {largest.path}, {largest.size:,} bytes)")


def load(directory: str | os.PathLike[str], prefix: str = "") -> list[Skill]:
    """The skills under `directory`, their URIs under `skill://<prefix>/`; raises SkillError naming the file at fault."""
    shown = os.fspath(directory).rstrip("/") or "/"
    if not os.path.isdir(directory):
        raise SkillError(f"{shown}: not a directory of skills")
    root = os.path.realpath(directory)
    prefix_segments = prefix.strip("/").split("/") if prefix.strip("/") else []
    problem = prefix_problem(prefix_segments)
    if problem is not None:
        raise SkillError(f"prefix {prefix!r}: {problem}")
    files, directories = walk(root, shown)
    paths = {found.path for found in files}
    skill_dirs = [d for d in ["", *directories] if (f"{d}/{SKILL_FILE}" if d else SKILL_FILE) in paths]
    if not skill_dirs:
        raise SkillError(f"{shown}: no {SKILL_FILE} in it or below it, so there is no skill to serve")
    base = [Path(root).name] if "" in skill_dirs else []
    members = {d: _members(files, d) for d in skill_dirs}
    for d, group in members.items():
        _check_limits(group, f"{shown}/{d}/{SKILL_FILE}" if d else f"{shown}/{SKILL_FILE}")
    needed = {found.path: found for group in members.values() for found in group}
    built: dict[str, SkillFile] = {}
    for path, one in needed.items():
        segments = [*prefix_segments, *base, *path.split("/")]
        data = read(one, MAX_BYTES_PER_SKILL, f"{shown}/{path}")
        built[path] = SkillFile.of(uri_of(segments), segments[-1], data, "text/markdown" if segments[-1] == SKILL_FILE else None)
    return [_skill(d, members[d], built, directories, [*prefix_segments, *base], shown) for d in skill_dirs]


def _skill(directory: str, members: list[Found], built: dict[str, SkillFile], directories: Iterable[str],
           leading: list[str], shown: str) -> Skill:
    own = f"{directory}/{SKILL_FILE}" if directory else SKILL_FILE
    where = f"{shown}/{own}"
    files = tuple(built[found.path] for found in members)
    total = sum(file.size for file in files)
    if total > MAX_BYTES_PER_SKILL:  # a file grew between the walk and the read
        raise SkillError(f"{where}: the skill's files hold {_mib(total)}, more than the 16 MiB SEP-2640 allows per skill")
    text = files[0].contents.get("text")
    if type(text) is not str:
        raise SkillError(f"{where}: not UTF-8 text")
    segments = [*leading, *directory.split("/")] if directory else list(leading)
    try:
        frontmatter = parse(text, segments[-1])
    except FrontmatterError as problem:
        raise SkillError(f"{where}: {problem}") from None
    root = uri_of(segments)
    start = directory + "/" if directory else ""
    subdirectories = tuple(uri_of([*segments, *d[len(start):].split("/")]) for d in directories
                           if d.startswith(start) and d != directory)
    return Skill(skill_uri(root), root, frontmatter, files, subdirectories)
