"""Artifacts are loaded only when their sha256 matches the registry's."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.registry.artifacts import ArtifactError, load_artifact, save_artifact, sha256_of


def test_round_trip_returns_the_object(tmp_path: Path) -> None:
    path = tmp_path / "m.pkl"
    digest = save_artifact({"weights": [1, 2, 3]}, path)
    assert digest == sha256_of(path)
    assert load_artifact(path, digest) == {"weights": [1, 2, 3]}


def test_a_changed_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.pkl"
    digest = save_artifact([1], path)
    path.write_bytes(path.read_bytes() + b"tampered")
    with pytest.raises(ArtifactError, match="refusing to load"):
        load_artifact(path, digest)


def test_a_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="does not exist"):
        load_artifact(tmp_path / "absent.pkl", "0" * 64)
