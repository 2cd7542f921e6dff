"""Walking a skills directory and reading its files, without leaving it and without reading without bound.

What is served is what the directory holds when the server is built, read once: every regular file
below it, except names starting with '.' (`.git`, `.env`, editor files) and `__pycache__`, which are
never part of a skill. A symbolic link is followed only to a regular file inside the directory; one
that leads outside it, to a directory (a loop or an escape could hide behind one) or to anything
but a regular file is refused, as is a FIFO, socket or device. A file is opened without following a
link swapped in since the walk, checked to be regular again, and read to at most `limit` bytes, so a
file that grew since its size was taken cannot make the read unbounded.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from bosun.skills.limits import MAX_DEPTH

_SKIPPED = ("__pycache__",)
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)


class SkillError(ValueError):
    """A skill that cannot be served as it is; the message starts with the file at fault."""


@dataclass(frozen=True, slots=True)
class Found:
    path: str
    """Relative to the skills directory, '/'-separated."""
    real: str
    """The absolute path to open (a link's target, inside the directory)."""
    size: int


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _checked_name(name: str, shown: str) -> None:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise SkillError(f"{shown}: the name is not valid UTF-8, so it has no URI") from None


def walk(root: str, shown: str) -> tuple[list[Found], list[str]]:
    """Every file and every directory below `root` (an absolute real path), relative to it.

    `shown` is the directory as the user named it, for messages."""
    files: list[Found] = []
    directories: list[str] = []
    pending: list[tuple[str, str, int]] = [(root, "", 0)]
    while pending:
        directory, relative, depth = pending.pop()
        with os.scandir(directory) as entries:
            for entry in sorted(entries, key=lambda item: item.name):
                if entry.name.startswith(".") or entry.name in _SKIPPED:
                    continue
                path = f"{relative}/{entry.name}" if relative else entry.name
                where = f"{shown}/{path}"
                _checked_name(entry.name, where)
                if entry.is_symlink():
                    files.append(_linked(entry.path, path, root, shown, where))
                elif entry.is_dir(follow_symlinks=False):
                    if depth + 1 > MAX_DEPTH:
                        raise SkillError(f"{where}: more than {MAX_DEPTH} directory levels below {shown}")
                    directories.append(path)
                    pending.append((entry.path, path, depth + 1))
                elif entry.is_file(follow_symlinks=False):
                    files.append(Found(path, entry.path, entry.stat(follow_symlinks=False).st_size))
                else:
                    raise SkillError(f"{where}: not a regular file (a FIFO, socket or device); it cannot be served")
    files.sort(key=lambda found: found.path)
    directories.sort()
    return files, directories


def _linked(link: str, path: str, root: str, shown: str, where: str) -> Found:
    target = os.path.realpath(link)
    if not _inside(target, root):
        raise SkillError(f"{where}: a symbolic link to {target}, outside {shown}; refused (a skill serves only its own files)")
    relative = os.path.relpath(target, root)
    if relative != "." and any(part.startswith(".") or part in _SKIPPED for part in relative.split(os.sep)):
        raise SkillError(f"{where}: a symbolic link to {target}, which is not served (a hidden name or {_SKIPPED[0]}); refused")
    try:
        info = os.stat(target)
    except OSError:
        raise SkillError(f"{where}: a symbolic link to {target}, which does not exist") from None
    if stat.S_ISDIR(info.st_mode):
        raise SkillError(f"{where}: a symbolic link to a directory; refused (link the files, or copy the directory)")
    if not stat.S_ISREG(info.st_mode):
        raise SkillError(f"{where}: a symbolic link to something other than a regular file; refused")
    return Found(path, target, info.st_size)


def read(found: Found, limit: int, where: str) -> bytes:
    """The file's bytes, at most `limit` of them (raises SkillError, naming the file, beyond that)."""
    try:
        descriptor = os.open(found.real, _OPEN_FLAGS)
    except OSError as failure:
        raise SkillError(f"{where}: cannot be opened ({failure.strerror})") from None
    with os.fdopen(descriptor, "rb", buffering=0) as handle:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise SkillError(f"{where}: not a regular file; it cannot be served")
        if info.st_size > limit:
            raise SkillError(f"{where}: {info.st_size} bytes, more than the {limit} a skill may hold in all")
        chunks: list[bytes] = []
        total = 0
        while total <= limit:
            chunk = handle.read(min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:
            raise SkillError(f"{where}: grew past the {limit} bytes a skill may hold while it was read")
        return b"".join(chunks)
