"""The training data of a window: a model's labelled predictions by prediction time.

A window ``[start, end)`` holds every prediction of the model logged in it that has a
label now, with the prediction's inputs, the current label and its revision (so the
training set can be named exactly, see :mod:`services.retrain.fingerprint`).
:func:`class_counts` answers the dialog's "how many labelled rows per class" from the
store's counts; :func:`check_window` refuses a window too thin to train on;
:func:`load_rows` reads the rows page by page; :func:`default_window` is the window the
dialog offers.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy import Engine

from db.repositories import registry
from db.repositories import training as training_repo
from db.session import session_scope
from services.registry.scoring import frame_of

__all__ = [
    "DEFAULT_WINDOW_DAYS",
    "PAGE_ROWS",
    "TrainingDataError",
    "TrainingRows",
    "Window",
    "check_window",
    "class_counts",
    "default_window",
    "load_rows",
]

#: Without a drift episode, the default window covers this many days before now.
DEFAULT_WINDOW_DAYS = 14
#: Labelled rows read per query: each read is short, so writers never wait long behind it.
PAGE_ROWS = 5_000

Progress = Callable[[str, float, str], None]


class TrainingDataError(ValueError):
    """The window cannot be trained on; ``str()`` says why and what to do."""


@dataclass(frozen=True)
class Window:
    """A training window ``[start, end)`` by prediction time, and why it was chosen."""

    start: datetime
    end: datetime
    #: ``"drift"``: it starts when the inputs began drifting; ``"recent"``: the last days.
    reason: str


@dataclass(frozen=True)
class TrainingRows:
    """A window's labelled predictions, oldest first (by prediction time, then id).

    Attributes:
        model: the model's name.
        start, end: the window.
        ids: prediction ids.
        ts: prediction times.
        revisions: each label's revision when read.
        labels: the labels, as strings.
        features: the inputs, one column a feature of the schema (numbers float64,
            categories strings), as the inference service scores them.
    """

    model: str
    start: datetime
    end: datetime
    ids: tuple[str, ...]
    ts: tuple[datetime, ...]
    revisions: tuple[int, ...]
    labels: npt.NDArray[np.str_]
    features: pd.DataFrame

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, lo: int, hi: int) -> TrainingRows:
        """Rows ``lo`` to ``hi - 1`` (still oldest first)."""
        return TrainingRows(
            model=self.model, start=self.start, end=self.end, ids=self.ids[lo:hi],
            ts=self.ts[lo:hi], revisions=self.revisions[lo:hi], labels=self.labels[lo:hi],
            features=self.features.iloc[lo:hi].reset_index(drop=True))


def _model(engine: Engine, model: str) -> tuple[int, list[str], list[dict[str, Any]]]:
    """The model's id, classes and feature schema, or a :class:`TrainingDataError`."""
    with session_scope(engine) as session:
        try:
            row = registry.get_model(session=session, name=model)
        except registry.RegistryError:
            raise TrainingDataError(
                f"there is no model called {model!r}; pick a registered model") from None
        return row.id, list(row.class_labels), list(row.feature_schema)


def class_counts(engine: Engine, model: str, start: datetime, end: datetime) -> dict[str, int]:
    """Labelled predictions of ``model`` in ``[start, end)`` per label, every class of the
    model included (0 when it has none), then any other label the store holds."""
    model_id, classes, _ = _model(engine, model)
    with session_scope(engine) as session:
        counts = training_repo.label_counts(session=session, model_id=model_id,
                                            start=start, end=end)
    ordered = {label: counts.get(label, 0) for label in classes}
    ordered.update({k: v for k, v in sorted(counts.items()) if k not in ordered})
    return ordered


def check_window(counts: Mapping[str, int], classes: Sequence[str], min_per_class: int) -> None:
    """Refuse a window in which a class has fewer than ``min_per_class`` labelled rows.

    Raises:
        TrainingDataError: naming every class short of rows, with its count.
    """
    short = [(c, int(counts.get(c, 0))) for c in classes if counts.get(c, 0) < min_per_class]
    if not short:
        return
    named = ", ".join(f"{c!r} has {n:,}" for c, n in short)
    raise TrainingDataError(
        f"too few labelled predictions to train on in this window: {named} "
        f"(at least {min_per_class:,} per class are needed); widen the window or label "
        f"more predictions of the short class{'es' if len(short) > 1 else ''} first")


def default_window(engine: Engine, model: str, now: datetime,
                   drifting_since: datetime | None) -> Window:
    """The window the dialog offers: from the day the inputs began drifting (the Drift
    page's "drifting since") when there is one, else the last 14 days, to ``now``.

    Why: on the demo's newest labels a model trained on the drifted days alone scores
    about 10 points more than one trained on both regimes (``make bench-retrain``).

    Raises:
        TrainingDataError: no such model.
    """
    _model(engine, model)
    if drifting_since is not None and drifting_since < now:
        return Window(start=drifting_since, end=now, reason="drift")
    return Window(start=now - timedelta(days=DEFAULT_WINDOW_DAYS), end=now, reason="recent")


def load_rows(engine: Engine, model: str, start: datetime, end: datetime, *,
              progress: Progress | None = None, page_rows: int = PAGE_ROWS) -> TrainingRows:
    """Every labelled prediction of ``model`` in ``[start, end)``, read ``page_rows`` at a
    time (each page its own short read); ``progress("loading data", percent, message)``
    is called after each page, percent running from 0 to 10."""
    model_id, _, schema = _model(engine, model)
    with session_scope(engine) as session:
        total = sum(training_repo.label_counts(session=session, model_id=model_id,
                                               start=start, end=end).values())
    ids: list[str] = []
    ts: list[datetime] = []
    revisions: list[int] = []
    labels: list[str] = []
    records: list[dict[str, Any]] = []
    after: tuple[datetime, str] | None = None
    while True:
        with session_scope(engine) as session:
            page = training_repo.labelled_page(session=session, model_id=model_id, start=start,
                                               end=end, after=after, limit=page_rows)
        if not page.ids:
            break
        ids += page.ids
        ts += page.ts
        revisions += page.revisions
        labels += page.labels
        records += [_decoded(value) for value in page.features]
        after = (page.ts[-1], page.ids[-1])
        if progress is not None:
            progress("loading data", 10.0 * len(ids) / max(total, len(ids)),
                     f"{len(ids):,} of {max(total, len(ids)):,} labelled rows read")
    return TrainingRows(model=model, start=start, end=end, ids=tuple(ids), ts=tuple(ts),
                        revisions=tuple(revisions), labels=np.asarray(labels, dtype=str),
                        features=frame_of(schema, records))


def _decoded(value: Any) -> dict[str, Any]:
    """A prediction's inputs: JSON text (as most drivers return it) or already a dict."""
    return dict(json.loads(value) if isinstance(value, (str, bytes)) else value)
