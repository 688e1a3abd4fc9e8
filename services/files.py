"""Files under ``var/`` are the owner's alone: 0600 files, 0700 folders.

``var/`` holds the store (password hashes, the audit log), the cookie secret, the demo
accounts, artifacts, logs and the inference service's spool. The entry points (the
dashboard server, the inference service, the command line, the demo launcher and the
simulator) set the process umask to :data:`PRIVATE_UMASK`, so everything they create is
owner-only, and the long-running ones pass ``var/`` to :func:`secure_tree`, which takes
group and others' access from anything already there (a file made before, or by a
tool with a looser umask) and logs a warning naming it. Fixing our own files is friendlier
than refusing to start; a file owned by another user is left alone, with a warning.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

__all__ = ["PRIVATE_UMASK", "owner_only", "private_dir", "private_umask", "secure_tree"]

logger = logging.getLogger("opsdash.files")

#: New files 0600, new folders 0700.
PRIVATE_UMASK = 0o077
_OTHERS = 0o077


def private_umask() -> None:
    """Make every file and folder this process creates from now on owner-only."""
    os.umask(PRIVATE_UMASK)


def owner_only(path: Path) -> bool:
    """Take group and others' access from ``path`` (a file or a folder, not a link).

    Returns ``True`` when the mode changed; a warning names the path and both modes.
    """
    try:
        info = path.lstat()
    except FileNotFoundError:
        return False
    mode = stat.S_IMODE(info.st_mode)
    if stat.S_ISLNK(info.st_mode) or not mode & _OTHERS:
        return False
    if info.st_uid != os.getuid():
        logger.warning("%s is readable or writable by others (%04o) and belongs to another "
                       "user; change it by hand", path, mode)
        return False
    path.chmod(mode & ~_OTHERS)
    logger.warning("%s was readable or writable by others (%04o); it is now %04o",
                   path, mode, mode & ~_OTHERS)
    return True


def private_dir(path: Path) -> Path:
    """``path`` as an owner-only folder, created (with its parents) if missing."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    owner_only(path)
    return path


def secure_tree(root: Path) -> list[Path]:
    """Make ``root`` and everything under it owner-only; returns what changed.

    Links are neither followed nor changed.
    """
    if not root.is_dir() or root.is_symlink():
        return []
    changed = [root] if owner_only(root) else []
    for folder, dirs, files in os.walk(root):
        for name in (*dirs, *files):
            path = Path(folder) / name
            if owner_only(path):
                changed.append(path)
    return changed
