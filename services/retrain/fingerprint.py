"""The fingerprint of a training run: exactly which labelled predictions it trained on,
and everything else needed to train the same model again.

The training set is named by its prediction ids with their label revisions: the sha256 of
the sorted ``id:revision`` lines and their count, so a later reader can tell whether the
store still holds the same labels (:func:`check_same_rows`). The ids themselves are not in
the fingerprint: 35,000 training ids (the demo's 14 days of churn labels) are 1.26 MB
as JSON and still 0.57 MB compressed, too much for a row every registry read carries, and
the promotion evidence counts labels in SQL, so it must be able to leave out the trained-on
predictions in SQL. They travel beside it (``TrainingOutcome.training_ids``) for the
registrar to store one row a prediction (see "Retraining" in ``docs/architecture.md``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import sklearn

from services.retrain.data import TrainingDataError, TrainingRows

__all__ = ["FORMAT", "check_same_rows", "json_params", "rows_digest"]

#: Version of the fingerprint's layout.
FORMAT = 1


def rows_digest(ids: Sequence[str], revisions: Sequence[int]) -> str:
    """Hex sha256 of the sorted ``id:revision`` lines (one ``\\n`` after each)."""
    digest = hashlib.sha256()
    for line in sorted(f"{i}:{r}" for i, r in zip(ids, revisions, strict=True)):
        digest.update(line.encode())
        digest.update(b"\n")
    return digest.hexdigest()


def json_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """The estimator parameters that are plain JSON values (numbers, text, flags, None)."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, np.generic):
            value = value.item()
        if value is None or isinstance(value, (bool, int, float, str)):
            out[key] = value
    return out


def build(
    *,
    train: TrainingRows,
    holdout: TrainingRows,
    preset: str,
    params: Mapping[str, Any],
    seed: int,
    holdout_fraction: float,
    folds: int,
) -> dict[str, Any]:
    """The fingerprint (JSON-ready) of training on ``train``, evaluated on ``holdout``."""
    return {
        "format": FORMAT,
        "model": train.model,
        "window": {"start": _iso(train.start), "end": _iso(train.end)},
        "training_rows": len(train),
        "training_sha256": rows_digest(train.ids, train.revisions),
        # The first held-out row by (prediction time, id): the training part is every
        # labelled row of the window before it, as the labels stood when read.
        "holdout_from": None if not len(holdout) else
        {"ts": _iso(holdout.ts[0]), "id": holdout.ids[0]},
        "holdout_rows": len(holdout),
        "holdout_sha256": rows_digest(holdout.ids, holdout.revisions),
        "holdout_fraction": holdout_fraction,
        "preset": preset,
        "params": dict(params),
        "seed": seed,
        "folds": folds,
        "scikit_learn": sklearn.__version__,
    }


def check_same_rows(rows: TrainingRows, fingerprint: Mapping[str, Any]) -> None:
    """Refuse ``rows`` as the training set of ``fingerprint`` unless they are exactly the
    same predictions with the same label revisions.

    Raises:
        TrainingDataError: a label changed, or a row was added or removed since.
    """
    if (len(rows) != fingerprint["training_rows"]
            or rows_digest(rows.ids, rows.revisions) != fingerprint["training_sha256"]):
        raise TrainingDataError(
            f"the labelled rows differ from the {fingerprint['training_rows']:,} this version "
            f"was trained on (a label was changed, added or deleted since), so the same model "
            f"cannot be trained again from them")


def _iso(value: datetime) -> str:
    return value.isoformat()
