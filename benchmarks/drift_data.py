"""The drift benchmark's data: seeded numpy draws (nothing downloaded) of a reference and a
current frame, 20 numeric and 5 categorical columns, some drifting, several near a threshold
(:data:`COLUMNS` says what changes in each). Needs only numpy and pandas, so it runs in the
app's environment and in the benchmark's own (Evidently needs pandas 2)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = ["CATEGORICAL_COLUMNS", "COLUMNS", "NUMERIC_COLUMNS", "SEED", "Column", "make_frames"]

SEED = 20_240_601
Sampler = Callable[[np.random.Generator, int], npt.NDArray[Any]]


# --------------------------------------------------------------------------- the data


@dataclass(frozen=True)
class Column:
    """One generated column: how the reference and the current values are drawn."""

    name: str
    kind: str  # "numeric" or "categorical"
    change: str  # what differs in the current sample (and the expected statistic)
    reference: Sampler
    current: Sampler


def _normal(mean: float = 0.0, std: float = 1.0) -> Sampler:
    return lambda rng, n: rng.normal(mean, std, n)


def _lognormal(mean: float, sigma: float, shift: float = 0.0) -> Sampler:
    return lambda rng, n: rng.lognormal(mean, sigma, n) + shift


def _uniform(low: float, high: float) -> Sampler:
    return lambda rng, n: rng.uniform(low, high, n)


def _exponential(scale: float, shift: float = 0.0) -> Sampler:
    return lambda rng, n: rng.exponential(scale, n) + shift


def _gamma(shape: float, scale: float, shift: float = 0.0) -> Sampler:
    return lambda rng, n: rng.gamma(shape, scale, n) + shift


def _poisson(lam: float) -> Sampler:
    return lambda rng, n: rng.poisson(lam, n).astype(np.float64)


def _integers(shares: Sequence[float]) -> Sampler:
    """Whole numbers 0, 1, … drawn with the given shares (as floats)."""
    p = np.asarray(shares, dtype=np.float64)
    return lambda rng, n: rng.choice(p.size, size=n, p=p / p.sum()).astype(np.float64)


def _bimodal(right_share: float) -> Sampler:
    """Half-and-half N(-2, 1) and N(2, 1) by default; ``right_share`` in the right mode."""

    def draw(rng: np.random.Generator, n: int) -> npt.NDArray[np.float64]:
        right = rng.random(n) < right_share
        return rng.normal(0.0, 1.0, n) + np.where(right, 2.0, -2.0)

    return draw


def _categories(names: Sequence[str], shares: Sequence[float]) -> Sampler:
    labels = np.asarray(names, dtype=object)
    p = np.asarray(shares, dtype=np.float64)
    return lambda rng, n: labels[rng.choice(labels.size, size=n, p=p / p.sum())]


def _with_missing(sampler: Sampler, share: float, missing: Any) -> Sampler:
    """``sampler``'s values with about ``share`` of them replaced by ``missing``."""

    def draw(rng: np.random.Generator, n: int) -> npt.NDArray[Any]:
        values = sampler(rng, n)
        values[rng.random(n) < share] = missing
        return values

    return draw


_ZIPF = 1.0 / np.arange(1, 31) ** 1.1
_ZIPF_TILTED = _ZIPF * np.exp(0.1 * np.linspace(-1.0, 1.0, 30))
_CITIES = [f"city_{i:02d}" for i in range(30)]

#: Every generated column, numeric first. Statistics in brackets are the population values
#: (Wasserstein over the reference's standard deviation, or Jensen–Shannon distance).
COLUMNS: tuple[Column, ...] = (
    Column("num_00", "numeric", "none: N(0, 1)", _normal(), _normal()),
    Column("num_01", "numeric", "none: N(10, 2)", _normal(10, 2), _normal(10, 2)),
    Column("num_02", "numeric", "none: lognormal", _lognormal(0, 0.5), _lognormal(0, 0.5)),
    Column("num_03", "numeric", "none: uniform(0, 1)", _uniform(0, 1), _uniform(0, 1)),
    Column("num_04", "numeric", "shift 0.02 sd (W 0.02)", _exponential(1), _exponential(1, 0.02)),
    Column("num_05", "numeric", "shift 0.05 sd (W 0.05)", _normal(), _normal(0.05)),
    Column("num_06", "numeric", "shift 0.08 sd (W 0.08)", _normal(5, 3), _normal(5 + 0.08 * 3, 3)),
    Column("num_07", "numeric", "shift 0.095 sd (W 0.095, just under)", _normal(), _normal(0.095)),
    Column("num_08", "numeric", "shift 0.105 sd (W 0.105, just over)", _normal(), _normal(0.105)),
    Column("num_09", "numeric", "shift 0.12 sd (W 0.12)", _normal(-3, 0.5),
           _normal(-3 + 0.12 * 0.5, 0.5)),
    Column("num_10", "numeric", "shift 0.3 sd (W 0.3)", _normal(), _normal(0.3)),
    Column("num_11", "numeric", "gamma shifted 1 sd (W 1.0)", _gamma(2, 1),
           _gamma(2, 1, math.sqrt(2))),
    Column("num_12", "numeric", "sd x1.15 (W 0.12)", _normal(), _normal(0, 1.15)),
    Column("num_13", "numeric", "sd x1.12 (W 0.096, just under)", _normal(), _normal(0, 1.12)),
    Column("num_14", "numeric", "Poisson 3 to 3.3, ties (W 0.17)", _poisson(3), _poisson(3.3)),
    Column("num_15", "numeric", "none: Poisson 8, ties", _poisson(8), _poisson(8)),
    Column("num_16", "numeric", "none: 4 values (Jensen-Shannon)", _integers([4, 3, 2, 1]),
           _integers([4, 3, 2, 1])),
    Column("num_17", "numeric", "5 values, mix moves (JS 0.13)", _integers([1, 1, 1, 1, 1]),
           _integers([0.10, 0.15, 0.20, 0.25, 0.30])),
    Column("num_18", "numeric", "2 % missing both sides, shift 0.15 sd (W 0.15)",
           _with_missing(_normal(), 0.02, np.nan),
           _with_missing(_normal(0.15), 0.02, np.nan)),
    Column("num_19", "numeric", "bimodal, right mode 50 % to 55.5 % (W 0.098, at the edge)",
           _bimodal(0.5), _bimodal(0.555)),
    Column("cat_0", "categorical", "none: 4 categories",
           _categories(list("ABCD"), [0.4, 0.3, 0.2, 0.1]),
           _categories(list("ABCD"), [0.4, 0.3, 0.2, 0.1])),
    Column("cat_1", "categorical", "mix 50/30/20 to 30/30/40 (JS 0.17)",
           _categories(["red", "green", "blue"], [0.5, 0.3, 0.2]),
           _categories(["red", "green", "blue"], [0.3, 0.3, 0.4])),
    Column("cat_2", "categorical", "new category at 5 % (JS 0.13)",
           _categories(["web", "mail", "phone"], [0.40, 0.35, 0.25]),
           _categories(["web", "mail", "phone", "chat"],
                       [0.40 * 0.95, 0.35 * 0.95, 0.25 * 0.95, 0.05])),
    Column("cat_3", "categorical", "mix 25 % each to 31.8/31.8/18.2/18.2 (JS 0.097, just under)",
           _categories(["n", "e", "s", "w"], [0.25] * 4),
           _categories(["n", "e", "s", "w"], [0.318, 0.318, 0.182, 0.182])),
    Column("cat_4", "categorical", "30 categories (Zipf), tilted, 1 % missing (JS 0.018)",
           _with_missing(_categories(_CITIES, _ZIPF), 0.01, None),
           _with_missing(_categories(_CITIES, _ZIPF_TILTED), 0.01, None)),
)
NUMERIC_COLUMNS = tuple(c.name for c in COLUMNS if c.kind == "numeric")
CATEGORICAL_COLUMNS = tuple(c.name for c in COLUMNS if c.kind == "categorical")


def make_frames(rows: int, *, seed: int = SEED,
                current_rows: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The reference and current frames: every column of :data:`COLUMNS` in order, numeric
    ones ``float64`` (missing: NaN), categorical ones ``object`` (text; missing: None).

    The same seed gives the same frames.
    """
    rng = np.random.default_rng(seed)
    current_rows = rows if current_rows is None else current_rows
    reference: dict[str, pd.Series] = {}
    current: dict[str, pd.Series] = {}
    for column in COLUMNS:
        dtype = np.float64 if column.kind == "numeric" else object
        reference[column.name] = pd.Series(column.reference(rng, rows), dtype=dtype)
        current[column.name] = pd.Series(column.current(rng, current_rows), dtype=dtype)
    return pd.DataFrame(reference), pd.DataFrame(current)
