"""Model artifacts on disk, with a sha256 that is checked before anything is unpickled."""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

from services.files import private_dir

__all__ = ["ArtifactError", "load_artifact", "save_artifact", "sha256_of"]


class ArtifactError(RuntimeError):
    """An artifact is missing or its content does not match the registered sha256."""


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_artifact(obj: Any, path: Path) -> str:
    """Pickle ``obj`` to ``path`` atomically and return the file's sha256."""
    private_dir(path.parent)  # mkstemp makes the file itself 0600
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(obj, fh, protocol=pickle.HIGHEST_PROTOCOL)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return sha256_of(path)


def load_artifact(path: Path, expected_sha256: str) -> Any:
    """Load a pickled artifact after checking its sha256.

    Raises:
        ArtifactError: the file is missing or its hash differs from ``expected_sha256``.
    """
    if not path.is_file():
        raise ArtifactError(f"model artifact {path} does not exist")
    data = path.read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected_sha256:
        raise ArtifactError(
            f"model artifact {path} has sha256 {actual[:12]}… but the registry expects "
            f"{expected_sha256[:12]}…; refusing to load it"
        )
    # Only files whose hash the registry vouches for reach this point.
    return pickle.loads(data)  # noqa: S301
