"""The Drift page under AppTest: verdicts, statistics and charts against an independent
recomputation (SciPy) on the rows the test logged.

The history is ten local days. Two inputs shift on the last three (``charges`` by one
standard deviation; ``channel`` gains a category the reference never had); the others keep
their distribution. Stable numbers are stratified draws and stable categories exact
shares, so "stable" is stable on every run. The page runs in a zone where it is midday
now, so no day boundary passes while a test runs.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
import streamlit as st
from scipy import stats
from scipy.spatial.distance import jensenshannon
from sklearn.pipeline import Pipeline
from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from db.repositories import registry
from db.repositories.predictions import insert_predictions
from db.session import session_scope
from devstack.demo.training import build_pipeline
from services.access import Role
from services.drift.registry import choose_test
from services.drift.samples import CATEGORICAL, NUMERIC
from services.registry.artifacts import save_artifact
from services.settings import Settings

PAGE = "pages/drift.py"
SCHEMA = [
    {"name": "tenure", "type": "number"},
    {"name": "charges", "type": "number"},
    {"name": "plan", "type": "category"},
    {"name": "channel", "type": "category"},
]
KINDS = {s["name"]: NUMERIC if s["type"] == "number" else CATEGORICAL for s in SCHEMA}
DRIFTED = {"charges", "channel"}
CLASSES = ("stays", "churns")
#: Days of history, oldest first, as offsets from today; the last three are shifted.
HISTORY = range(-9, 1)
SHIFTED = {-2, -1, 0}
#: A day with fewer predictions than the page tests (MIN_DAY_ROWS is 30).
SPARSE = -6
DAY_ROWS = 150
SPARSE_ROWS = 10
NEW = "kiosk"


def _midday_zone() -> str:
    """A fixed-offset zone in which it is between 12:00 and 13:00 now."""
    offset = 12 - datetime.now(UTC).hour  # -11 .. 12
    if offset == 0:
        return "UTC"
    # POSIX sign: Etc/GMT-3 is three hours ahead of UTC.
    return f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"


ZONE = _midday_zone()


def _today() -> date:
    return datetime.now(ZoneInfo(ZONE)).date()


@pytest.fixture(autouse=True)
def fresh_caches() -> Iterator[None]:
    """Cached reads are per process: a test must not see the previous test's store."""
    st.cache_data.clear()
    yield
    st.cache_data.clear()


# --------------------------------------------------------------------------- the store


def _stratified(rng: np.random.Generator, n: int, loc: float, scale: float) -> np.ndarray:
    """Normal values with one draw in each of ``n`` equal-probability strata, shuffled."""
    values = stats.norm.ppf((np.arange(n) + rng.uniform(size=n)) / n, loc, scale)
    return rng.permutation(values)


def _exact(rng: np.random.Generator, n: int, shares: dict[str, float]) -> list[str]:
    """Categories in exactly these shares (rounded), shuffled."""
    out: list[str] = []
    for value, part in shares.items():
        out += [value] * round(n * part)
    out += [next(iter(shares))] * (n - len(out))
    return [str(v) for v in rng.permutation(np.array(out, dtype=object))]


def records(rng: np.random.Generator, n: int, *, shifted: bool = False,
            names: dict[str, str] | None = None, new: str = NEW) -> list[dict[str, Any]]:
    """Input records; ``shifted``: charges one std higher, 40 % of channels ``new``."""
    names = names or {}
    channel = ({new: 0.4, "web": 0.2, "app": 0.2, "store": 0.2} if shifted
               else {"web": 1 / 3, "app": 1 / 3, "store": 1 / 3})
    columns = {
        "tenure": _stratified(rng, n, 24, 8).tolist(),
        "charges": _stratified(rng, n, 85 if shifted else 70, 15).tolist(),
        "plan": _exact(rng, n, {"basic": 0.6, "pro": 0.4}),
        "channel": _exact(rng, n, channel),
    }
    return [{names.get(k, k): columns[k][i] for k in columns} for i in range(n)]


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    """A fitted model in which every input matters (fitted once per module)."""
    rng = np.random.default_rng(1)
    rows = pd.DataFrame(records(rng, 400))
    logit = (0.08 * (rows["charges"] - 70) - 0.1 * (rows["tenure"] - 24)
             + 1.5 * (rows["channel"] == "store") + 0.8 * (rows["plan"] == "pro")
             + rng.normal(0, 0.5, len(rows)))
    model = build_pipeline(SCHEMA)
    model.fit(rows, np.where(logit > 0.5, CLASSES[1], CLASSES[0]))
    return model


@dataclass
class Store:
    """What the test logged: the reference sample and each day's input records."""

    name: str
    reference: list[dict[str, Any]]
    days: dict[date, list[dict[str, Any]]] = field(default_factory=dict)

    def values(self, feature: str, first: date, last: date) -> list[Any]:
        """Logged values of ``feature`` on the local days ``first`` to ``last``."""
        return [r[feature] for d, rows in self.days.items() if first <= d <= last
                for r in rows]

    def reference_values(self, feature: str) -> list[Any]:
        return [r[feature] for r in self.reference]


def _timestamps(day: date, n: int) -> list[datetime]:
    """``n`` moments spread over a local day (today: up to half an hour ago)."""
    zone = ZoneInfo(ZONE)
    start = datetime.combine(day, time(0, 30), tzinfo=zone)
    end = min(datetime.combine(day, time(23, 0), tzinfo=zone),
              datetime.now(zone) - timedelta(minutes=30))
    return [(start + (end - start) * (i + 0.5) / n).astimezone(UTC) for i in range(n)]


def register(
    engine: Engine, settings: Settings, *, name: str = "churn", schema: Sequence[dict[str, Any]]
    = SCHEMA, classes: Sequence[str] = CLASSES, model: Pipeline | None = None,
    reference: list[dict[str, Any]] | None = None, production: bool = True,
) -> tuple[int, int]:
    """Register a model with version 1 (its artifact when ``model`` is given)."""
    path = Path(settings.var_dir) / "artifacts" / f"{uuid.uuid4().hex}.pkl"
    sha = save_artifact(model, path) if model is not None else "0" * 64
    with session_scope(engine, write=True) as session:
        row = registry.create_model(session=session, name=name, task="binary",
                                    class_labels=list(classes), feature_schema=list(schema))
        version = registry.add_version(session=session, model_id=row.id,
                                       artifact_path=str(path), artifact_sha256=sha,
                                       created_by="test", reference_sample=reference)
        if production:
            registry.set_production(session=session, model_id=row.id, version_id=version.id,
                                    actor="test")
        return row.id, version.id


def log_days(engine: Engine, *, model_id: int, version_id: int,
             days: dict[date, list[dict[str, Any]]], model: Pipeline | None = None,
             classes: Sequence[str] = CLASSES) -> None:
    """Log each day's records as predictions (scored by ``model`` when given)."""
    rows = []
    for day, inputs in days.items():
        if model is not None:
            proba = model.predict_proba(pd.DataFrame(inputs))
            labels = [str(c) for c in model.classes_]
        else:
            proba = np.tile([0.7, 0.3], (len(inputs), 1))
            labels = list(classes)
        for ts, features, p in zip(_timestamps(day, len(inputs)), inputs, proba, strict=True):
            best = int(np.argmax(p))
            rows.append({
                "id": uuid.uuid4().hex, "model_id": model_id, "version_id": version_id,
                "ts": ts, "features": features, "predicted_class": labels[best],
                "scores": dict(zip(labels, map(float, p), strict=True)),
                "top_score": float(p[best]), "latency_ms": 5.0,
            })
    with session_scope(engine, write=True) as session:
        insert_predictions(session=session, rows=rows)


def history(rng: np.random.Generator, **kwargs: Any) -> dict[date, list[dict[str, Any]]]:
    today = _today()
    return {today + timedelta(days=k): records(
        rng, SPARSE_ROWS if k == SPARSE else DAY_ROWS, shifted=k in SHIFTED, **kwargs)
        for k in HISTORY}


def seed(engine: Engine, settings: Settings, pipeline: Pipeline, *, reference_rows: int,
         name: str = "churn") -> Store:
    """The standard store: a production version with its training sample and ten days."""
    rng = np.random.default_rng(reference_rows)
    store = Store(name=name, reference=records(rng, reference_rows), days=history(rng))
    model_id, version_id = register(engine, settings, name=name, model=pipeline,
                                    reference=store.reference)
    log_days(engine, model_id=model_id, version_id=version_id, days=store.days,
             model=pipeline)
    return store


# --------------------------------------------------------------------------- the page


def _open(app: Callable[..., AppTest], **env: str) -> AppTest:
    at = app(30, as_role=Role.ANALYST, script=PAGE, timezone=ZONE, **env)
    assert not at.exception, [e.value for e in at.exception]
    return at


def _current_days(at: AppTest, first: date, last: date) -> AppTest:
    at.selectbox(key="drift-window").select("Custom days").run()
    at.date_input(key="drift-current-days").set_value((first, last)).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _table(at: AppTest) -> pd.DataFrame:
    table: pd.DataFrame = at.dataframe[0].value
    return table.set_index("Feature", drop=False)


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _specs(at: AppTest) -> list[dict[str, Any]]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def _chart(at: AppTest, title_part: str) -> dict[str, Any]:
    (spec,) = [s for s in _specs(at) if title_part in s["layout"]["title"]["text"]]
    return spec


def _texts(at: AppTest, *, raw: bool = False) -> list[str]:
    """Everything the page wrote as markdown (text, captions, callouts); unless ``raw``,
    without the backslashes that make names literal."""
    texts = [str(e.value) for kind in (at.markdown, at.caption, at.info, at.warning,
                                       at.error, at.subheader) for e in kind]
    return texts if raw else [t.replace("\\", "") for t in texts]


def _statistic(shown: str) -> float:
    return float(shown.removeprefix("p = "))


def _distinct(ref: Sequence[Any], cur: Sequence[Any]) -> int:
    return len(set(ref) | set(cur))


def _shares(ref: Sequence[str], cur: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    keys = sorted(set(ref) | set(cur))
    return (np.array([ref.count(k) for k in keys], dtype=float),
            np.array([cur.count(k) for k in keys], dtype=float))


def _expected_statistic(test: str, ref: list[Any], cur: list[Any]) -> float:
    """The statistic of ``test`` as SciPy computes it (Evidently's definitions)."""
    if test == "wasserstein":
        return float(stats.wasserstein_distance(ref, cur) / max(float(np.std(ref)), 0.001))
    if test == "ks":
        return float(stats.ks_2samp(ref, cur).pvalue)
    p, q = _shares(ref, cur)
    if test == "jensenshannon":
        return float(jensenshannon(p, q))  # natural logarithm
    if test == "z":
        table = np.array([[p[0], p.sum() - p[0]], [q[0], q.sum() - q[0]]])
        return float(stats.chi2_contingency(table, correction=False).pvalue)
    assert test == "chisquare"
    if np.any((p == 0) & (q > 0)):
        return 0.0  # a value the reference never had
    return float(stats.chisquare(q, p / p.sum() * q.sum()).pvalue)


def _check_features(at: AppTest, store: Store, first: date, last: date,
                    expected_tests: dict[str, str]) -> None:
    """Verdict, test and statistic of every feature against SciPy on the logged rows."""
    table = _table(at)
    assert sorted(table["Feature"]) == sorted(KINDS)
    for feature, kind in KINDS.items():
        ref = store.reference_values(feature)
        cur = store.values(feature, first, last)
        row = table.loc[feature]
        test = choose_test(kind, len(ref), _distinct(ref, cur))
        assert row["Test"] == test == expected_tests[feature]
        assert row["Drifted"] == ("yes" if feature in DRIFTED else "no"), feature
        expected = _expected_statistic(test, ref, cur)
        shown = _statistic(row["Statistic"])
        if test in {"ks", "chisquare", "z"}:
            assert row["Statistic"] == f"p = {expected:.3g}", feature
        else:
            assert shown == pytest.approx(expected, abs=6e-5), feature
    # Ranked by score x weight: the drifted features first, then non-increasing.
    assert set(table["Feature"][:2]) == DRIFTED
    # Score is shown to 0.01 and Weight to 0.1: each product is known within its error.
    shown = list(zip(table["Score"], table["Weight"], strict=True))
    for (s1, w1), (s2, w2) in pairwise(shown):
        slack = 0.005 * (w1 + w2) + 0.05 * (abs(s1) + abs(s2)) + 1e-9
        assert s1 * w1 >= s2 * w2 - slack, shown
    assert table["Weight"].sum() == pytest.approx(100, abs=0.3)
    assert (table["Weight"] > 0).all()
    assert table.loc["channel", "New values"] == NEW
    assert (table.drop(index="channel")["New values"] == "").all()


def test_distance_tests_find_the_two_shifted_inputs(
    app: Callable[..., AppTest], engine: Engine, settings: Settings, pipeline: Pipeline
) -> None:
    store = seed(engine, settings, pipeline, reference_rows=1500)
    at = _open(app)
    assert not at.error
    # Default window, the last 7 days: the shift of the last three days shows already.
    assert _metrics(at)["Inputs"] == "drifted"
    today = _today()
    first = today - timedelta(days=2)
    at = _current_days(at, first, today)
    metrics = _metrics(at)
    assert metrics["Inputs"] == "drifted"
    assert metrics["Drifted features"] == "2 of 4"
    assert metrics["Current predictions"] == f"{3 * DAY_ROWS:,}"
    assert metrics["Reference rows"] == "1,500"
    _check_features(at, store, first, today, {
        "tenure": "wasserstein", "charges": "wasserstein",
        "plan": "jensenshannon", "channel": "jensenshannon"})
    assert any("New values not seen in the reference: channel: kiosk" in t
               for t in _texts(at))

    at.selectbox(key="drift-feature-churn").select("channel").run()
    (bars_ref, bars_cur) = _chart(at, "channel: reference and current")["data"]
    assert bars_cur["x"] == ["app", f"{NEW} (new)", "store", "web"]
    assert bars_cur["y"][1] == pytest.approx(40.0)
    assert bars_ref["y"][1] == 0
    assert any(f"New in the current window: {NEW}" in t for t in _texts(at))


def test_p_value_tests_on_a_small_reference(
    app: Callable[..., AppTest], engine: Engine, settings: Settings, pipeline: Pipeline
) -> None:
    store = seed(engine, settings, pipeline, reference_rows=600)
    today = _today()
    first = today - timedelta(days=2)
    at = _current_days(_open(app), first, today)
    assert _metrics(at)["Drifted features"] == "2 of 4"
    assert _metrics(at)["Reference rows"] == "600"
    # plan has two values, so the Z-test; channel gains a fourth, so chi-square.
    _check_features(at, store, first, today, {
        "tenure": "ks", "charges": "ks", "plan": "z", "channel": "chisquare"})
    assert _table(at).loc["channel", "Statistic"] == "p = 0"


def test_the_heatmap_has_a_cell_per_feature_and_day(
    app: Callable[..., AppTest], engine: Engine, settings: Settings, pipeline: Pipeline
) -> None:
    seed(engine, settings, pipeline, reference_rows=1500)
    at = _open(app)
    today = _today()
    days = [today + timedelta(days=k) for k in HISTORY]
    (heatmap,) = _chart(at, "day by day")["data"]
    assert heatmap["y"] == list(_table(at)["Feature"])
    assert heatmap["x"] == [f"{d:%a} {d:%b} {d.day}" for d in days]
    z = dict(zip(heatmap["y"], heatmap["z"], strict=True))
    text = dict(zip(heatmap["y"], heatmap["text"], strict=True))
    for i, k in enumerate(HISTORY):
        if k == SPARSE:
            assert all(z[f][i] is None for f in KINDS)
            assert all(text[f][i] == f"{SPARSE_ROWS} predictions: too few to test"
                       for f in KINDS)
            continue
        for feature in KINDS:
            if k in SHIFTED and feature in DRIFTED:
                assert z[feature][i] >= 1, (feature, k)
                assert text[feature][i].startswith("drifted;")
            else:
                assert z[feature][i] < 1, (feature, k)
                assert text[feature][i].startswith("no drift;")
    # The verdict says since when: the first shifted day.
    start = today + timedelta(days=min(SHIFTED))
    assert any(f"drifting since {start:%a %d %b %Y}" in t for t in _texts(at))


def test_two_stable_earlier_windows_have_not_drifted(
    app: Callable[..., AppTest], engine: Engine, settings: Settings, pipeline: Pipeline
) -> None:
    seed(engine, settings, pipeline, reference_rows=1500)
    today = _today()
    at = _open(app)
    at.selectbox(key="drift-reference").select("An earlier window").run()
    # The default reference is the first three days, cut to end before the current window
    # (the last 7 days begin on today - 7).
    assert at.date_input(key="drift-reference-days").value == (
        today - timedelta(days=9), today - timedelta(days=8))
    at.date_input(key="drift-reference-days").set_value(
        (today - timedelta(days=9), today - timedelta(days=7))).run()
    at = _current_days(at, today - timedelta(days=5), today - timedelta(days=3))
    metrics = _metrics(at)
    assert metrics["Inputs"] == "no dataset drift"
    assert metrics["Drifted features"] == "0 of 4"
    assert metrics["Reference rows"] == f"{3 * DAY_ROWS:,}"
    assert (_table(at)["Drifted"] == "no").all()
    # The same reference against the shifted days: drifted.
    at = _current_days(at, today - timedelta(days=2), today)
    assert _metrics(at)["Drifted features"] == "2 of 4"


# --------------------------------------------------------------------------- empty states


def _only_info(at: AppTest) -> str:
    assert not at.exception
    assert not at.error
    assert not at.dataframe
    assert not at.get("plotly_chart")
    (info,) = at.info
    return str(info.value)


def test_a_model_without_predictions_says_so(
    app: Callable[..., AppTest], engine: Engine, settings: Settings
) -> None:
    register(engine, settings)
    assert "churn has no logged predictions yet" in _only_info(_open(app))


@pytest.mark.parametrize(("production", "sample", "why"), [
    (False, False, "churn has no production version"),
    (True, False, "churn v1 stored no training sample"),
])
def test_without_a_training_sample_the_page_suggests_an_earlier_window(
    app: Callable[..., AppTest], engine: Engine, settings: Settings,
    production: bool, sample: bool, why: str,
) -> None:
    rng = np.random.default_rng(3)
    model_id, version_id = register(engine, settings, production=production)
    log_days(engine, model_id=model_id, version_id=version_id,
             days={_today() - timedelta(days=1): records(rng, 40)})
    info = _only_info(_open(app))
    assert why in info
    assert "Compare with an earlier window" in info


def test_windows_without_predictions_say_so(
    app: Callable[..., AppTest], engine: Engine, settings: Settings
) -> None:
    rng = np.random.default_rng(4)
    today = _today()
    model_id, version_id = register(engine, settings, production=False)
    log_days(engine, model_id=model_id, version_id=version_id, days={
        today - timedelta(days=5): records(rng, 40), today: records(rng, 40)})
    at = _open(app)
    at.selectbox(key="drift-reference").select("An earlier window").run()
    at = _current_days(at, today - timedelta(days=3), today - timedelta(days=2))
    assert "The current window holds no predictions of churn" in _only_info(at)
    at.date_input(key="drift-reference-days").set_value(
        (today - timedelta(days=4), today - timedelta(days=3))).run()
    assert "The reference holds no predictions of churn" in _only_info(at)
    # Both windows holding predictions: the page draws again.
    at.date_input(key="drift-reference-days").set_value(
        (today - timedelta(days=5), today - timedelta(days=5))).run()
    at.date_input(key="drift-current-days").set_value((today, today)).run()
    assert not at.exception
    assert not at.info
    assert _metrics(at)["Reference rows"] == "40"


def test_an_artifact_that_cannot_be_loaded_leaves_equal_weights(
    app: Callable[..., AppTest], engine: Engine, settings: Settings
) -> None:
    rng = np.random.default_rng(5)
    model_id, version_id = register(engine, settings, reference=records(rng, 300))
    log_days(engine, model_id=model_id, version_id=version_id,
             days={_today(): records(rng, 60)})
    at = _open(app)
    assert not at.error
    (warning,) = at.warning
    assert "could not be loaded" in warning.value
    assert (_table(at)["Weight"] == 25.0).all()
    assert any("no model answers to compare with" in c.value for c in at.caption)


# --------------------------------------------------------------------------- configuration


def test_a_configured_test_and_threshold_replace_the_automatic_ones(
    app: Callable[..., AppTest], engine: Engine, settings: Settings, pipeline: Pipeline,
    tmp_path: Path,
) -> None:
    seed(engine, settings, pipeline, reference_rows=1500)
    config = tmp_path / "drift.toml"
    config.write_text('[features.charges]\ntest = "psi"\nthreshold = 5\n', encoding="utf-8")
    at = _open(app, drift_config_file=str(config))
    assert not at.error
    row = _table(at).loc["charges"]
    assert row["Test"] == "psi"
    assert row["Threshold"] == "≥ 5"
    assert row["Drifted"] == "no"
    # It did shift: PSI is well above its usual 0.1 alarm, just below the configured 5.
    assert 0.1 < _statistic(row["Statistic"]) < 5
    assert _statistic(row["Statistic"]) == pytest.approx(row["PSI"], abs=1e-3)
    assert _metrics(at)["Drifted features"] == "1 of 4"


@pytest.mark.parametrize(("text", "problem"), [
    ('[features.charges]\ntest = "bogus"\n', "unknown drift test 'bogus'"),
    ("[features.charges\n", "not valid TOML"),
])
def test_a_broken_configuration_stops_the_page_with_the_reason(
    app: Callable[..., AppTest], engine: Engine, settings: Settings, tmp_path: Path,
    text: str, problem: str,
) -> None:
    register(engine, settings)
    config = tmp_path / "drift.toml"
    config.write_text(text, encoding="utf-8")
    at = _open(app, drift_config_file=str(config))
    (error,) = at.error
    message = error.value.replace("\\", "")  # markdown escapes in the file's message
    assert problem in message
    assert "drift is not computed" in message
    assert "Fix the file named by OPSDASH_DRIFT_CONFIG_FILE" in message
    assert not at.metric
    assert not at.dataframe
    assert not at.get("plotly_chart")


# --------------------------------------------------------------------------- escaping

EVIL = "<img src=x onerror=alert(1)>"


def test_names_from_the_store_are_escaped_in_charts_and_text(
    app: Callable[..., AppTest], engine: Engine, settings: Settings
) -> None:
    rng = np.random.default_rng(6)
    model = f"churn {EVIL}"
    feature = f"channel {EVIL}"
    schema = [dict(s, name=feature) if s["name"] == "channel" else s for s in SCHEMA]
    classes = ("stays", f"churns {EVIL}")
    today = _today()
    # The category new today is markup too.
    days = {today - timedelta(days=1): records(rng, 60, names={"channel": feature}),
            today: records(rng, 60, shifted=True, names={"channel": feature}, new=EVIL)}
    model_id, version_id = register(engine, settings, name=model, schema=schema,
                                    classes=classes, production=False)
    log_days(engine, model_id=model_id, version_id=version_id, days=days, classes=classes)
    at = _open(app)
    at.selectbox(key="drift-reference").select("An earlier window").run()
    yesterday = today - timedelta(days=1)
    at.date_input(key="drift-reference-days").set_value((yesterday, yesterday)).run()
    at = _current_days(at, today, today)
    assert not at.error
    assert _table(at).loc[feature, "New values"] == EVIL
    at.selectbox(key=f"drift-feature-{model}").select(feature).run()
    assert not at.exception

    specs = _specs(at)
    assert len(specs) == 4
    for spec in specs:
        text = json.dumps(spec, ensure_ascii=False)
        assert "<img" not in text
        assert "&lt;img src=x onerror=alert(1)&gt;" in text
    escaped = "&lt;img src=x onerror=alert(1)&gt;"
    bars = _chart(at, "reference and current distributions")
    assert f"{escaped} (new)" in bars["data"][1]["x"]
    assert bars["layout"]["title"]["text"].startswith(f"channel {escaped}")
    assert f"channel {escaped}" in _chart(at, "day by day")["data"][0]["y"]
    assert _chart(at, "predicted-class mix")["layout"]["title"]["text"].startswith(
        f"churn {escaped}")

    texts = _texts(at, raw=True)
    assert any("img" in t for t in texts)  # the names are written, escaped
    for t in texts:
        assert not re.search(r"(?<!\\)<", t), t
