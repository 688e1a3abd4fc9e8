"""Promotion moves the pointer, archives the old version and writes history, together."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, func, select

from db.models import ModelVersion, Promotion
from db.repositories import registry
from db.session import session_scope
from tests.factories import make_model


def _add_v2(engine: Engine, model_id: int) -> int:
    with session_scope(engine, write=True) as session:
        v2 = registry.add_version(session=session, model_id=model_id, artifact_path="/x",
                                  artifact_sha256="1" * 64, created_by="test")
        assert v2.version == 2
        assert v2.status == "candidate"
        return v2.id


def test_promotion_archives_the_previous_version_and_records_history(engine: Engine) -> None:
    model_id, v1 = make_model(engine)
    v2 = _add_v2(engine, model_id)
    with session_scope(engine, write=True) as session:
        registry.set_production(session=session, model_id=model_id, version_id=v2, actor="ann",
                                reason="better recall")
    with session_scope(engine) as session:
        assert registry.production_version(session=session, model_id=model_id).id == v2  # type: ignore[union-attr]
        assert session.get(ModelVersion, v1).status == "archived"  # type: ignore[union-attr]
        last = registry.last_promotion(session=session, model_id=model_id)
        assert last is not None
        assert (last.from_version_id, last.to_version_id, last.actor) == (v1, v2, "ann")


def test_a_failed_promotion_changes_nothing(engine: Engine) -> None:
    model_id, v1 = make_model(engine)
    _, other_version = make_model(engine, name="other")
    with pytest.raises(registry.RegistryError), session_scope(engine, write=True) as session:
        registry.set_production(session=session, model_id=model_id, version_id=other_version,
                                actor="ann")
    with session_scope(engine) as session:
        assert registry.production_version(session=session, model_id=model_id).id == v1  # type: ignore[union-attr]
        assert session.scalar(select(func.count()).select_from(Promotion)) == 2


def test_promoting_the_serving_version_again_is_refused(engine: Engine) -> None:
    model_id, v1 = make_model(engine)
    with pytest.raises(registry.RegistryError, match="already serves"), \
            session_scope(engine, write=True) as session:
        registry.set_production(session=session, model_id=model_id, version_id=v1, actor="ann")


def test_unknown_model_names_are_reported(engine: Engine) -> None:
    with pytest.raises(registry.RegistryError, match="no model named 'nope'"), \
            session_scope(engine) as session:
        registry.get_model(session=session, name="nope")
