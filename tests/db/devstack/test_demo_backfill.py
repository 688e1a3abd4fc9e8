"""The Prometheus backfill of the demo history, checked by structure and by real promtool."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from db.models import Model, Prediction
from db.schema import upgrade
from db.session import make_engine, session_scope
from devstack.demo.backfill import write_openmetrics
from devstack.demo.seed import seed_demo
from services.prometheus import metric_names as names
from services.settings import Settings

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
INSTANCE = "127.0.0.1:8000"
STEP = 60


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A store seeded with one day of demo history."""
    var = tmp_path_factory.mktemp("backfill") / "var"
    var.mkdir()
    settings = Settings(var_dir=str(var), database_url="", demo_days=1)
    engine = make_engine(settings.resolved_database_url)
    upgrade(engine)
    seed_demo(engine=engine, settings=settings, now=NOW)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def written(store: Engine, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """The OpenMetrics file of that store and the sample count reported."""
    path = tmp_path_factory.mktemp("om") / "backfill.om"
    count = write_openmetrics(
        engine=store, path=path, end=NOW, instance=INSTANCE, step_seconds=STEP
    )
    return path, count


_SAMPLE = re.compile(r"^([a-z_]+)\{(.*)\} (\S+) (\d+)$")


def _samples(path: Path) -> Iterator[tuple[str, str, float, int]]:
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        assert match, line
        yield match[1], match[2], float(match[3]), int(match[4])


def test_file_is_grouped_by_family_and_ends_with_eof(written: tuple[Path, int]) -> None:
    path, count = written
    lines = path.read_text().splitlines()
    assert lines[-1] == "# EOF"
    families = [line.split()[2] for line in lines if line.startswith("# TYPE")]
    assert len(families) == len(set(families))
    seen_order: list[str] = []
    for name, _, _, _ in _samples(path):
        family = re.sub(r"_(total|bucket|count|sum)$", "", name)
        if not seen_order or seen_order[-1] != family:
            assert family not in seen_order, f"{family} is not contiguous"
            seen_order.append(family)
    assert seen_order == families
    assert count == sum(1 for line in lines if not line.startswith("#"))
    assert not any("_created" in line for line in lines)


def test_every_series_is_labelled_as_the_live_scrape_and_moves_forward(
    written: tuple[Path, int],
) -> None:
    path, _ = written
    last: dict[tuple[str, str], tuple[int, float]] = {}
    for name, labels, value, ts in _samples(path):
        assert f'job="{names.SERVING_JOB}"' in labels
        assert f'instance="{INSTANCE}"' in labels
        assert ts <= NOW.timestamp()
        assert ts % STEP == 0
        key = (name, labels)
        if key in last:
            previous_ts, previous_value = last[key]
            assert ts == previous_ts + STEP
            if name.endswith(("_total", "_bucket", "_count", "_sum")):
                assert value >= previous_value
        last[key] = (ts, value)
    assert {ts for ts, _ in last.values()} == {NOW.timestamp() // STEP * STEP}


def test_counters_end_at_the_stored_prediction_counts(
    written: tuple[Path, int], store: Engine
) -> None:
    path, _ = written
    final: dict[tuple[str, str], float] = {}
    for name, labels, value, _ in _samples(path):
        final[(name, labels)] = value
    with session_scope(store) as session:
        stored = dict(
            session.execute(
                select(Model.name, func.count(Prediction.id))
                .join(Prediction, Prediction.model_id == Model.id)
                .group_by(Model.name)
            ).all()
        )
    for model, expected in stored.items():
        tag = f'model="{model}"'
        total = sum(
            v for (n, labels), v in final.items() if n == names.PREDICTIONS_TOTAL and tag in labels
        )
        assert total == expected
        for family in (names.LATENCY_SECONDS, names.SCORE):
            counts = [
                v for (n, labels), v in final.items() if n == f"{family}_count" and tag in labels
            ]
            assert counts == [expected]
            inf = [
                v
                for (n, labels), v in final.items()
                if n == f"{family}_bucket" and tag in labels and 'le="+Inf"' in labels
            ]
            assert inf == [expected]
        errors = [
            v for (n, labels), v in final.items() if n == names.ERRORS_TOTAL and tag in labels
        ]
        assert 0 < errors[0] < 0.02 * expected


def test_histogram_buckets_are_cumulative_and_use_the_shared_bounds(
    written: tuple[Path, int],
) -> None:
    path, _ = written
    buckets: dict[tuple[str, str, int], list[tuple[float, float]]] = defaultdict(list)
    for name, labels, value, ts in _samples(path):
        if name.endswith("_bucket"):
            series, le = labels.rsplit(',le="', 1)
            bound = float(le.rstrip('"').replace("+Inf", "inf"))
            buckets[(name, series, ts)].append((bound, value))
    for (name, _, _), points in buckets.items():
        bounds = [b for b, _ in points]
        shared = names.LATENCY_BUCKETS if "latency" in name else names.SCORE_BUCKETS
        assert bounds == [*shared, float("inf")]
        values = [v for _, v in points]
        assert values == sorted(values)


def test_an_empty_store_gives_an_empty_file(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "empty.om"
    assert write_openmetrics(engine=engine, path=path, end=NOW, instance=INSTANCE) == 0
    assert path.read_text() == "# EOF\n"
    with pytest.raises(ValueError, match="step_seconds"):
        write_openmetrics(engine=engine, path=path, end=NOW, instance=INSTANCE, step_seconds=0)


PROMTOOL = shutil.which("promtool")


@pytest.mark.skipif(PROMTOOL is None, reason="promtool (Debian package prometheus) not installed")
def test_promtool_turns_the_file_into_blocks_with_every_sample(
    written: tuple[Path, int], store: Engine, tmp_path: Path
) -> None:
    assert PROMTOOL is not None
    path, count = written
    blocks = tmp_path / "blocks"
    result = subprocess.run(
        [PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", str(path), str(blocks)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    table = [line.split() for line in result.stdout.splitlines()[1:] if line.strip()]
    assert table, result.stdout
    # Columns: ULID, min time, max time, duration, samples, chunks, series, size.
    assert sum(int(row[-4]) for row in table) == count

    (blocks / "wal").mkdir()  # promtool's dump opens the folder as a database, WAL and all
    dump = subprocess.run(
        [
            PROMTOOL,
            "tsdb",
            "dump",
            f'--match={names.PREDICTIONS_TOTAL}{{model="churn"}}',
            str(blocks),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    last: dict[str, tuple[int, float]] = {}
    for line in dump.stdout.splitlines():
        series, value, ts = line.rsplit(" ", 2)
        if series not in last or int(ts) > last[series][0]:
            last[series] = (int(ts), float(value))
    with session_scope(store) as session:
        churn = session.scalar(
            select(func.count(Prediction.id)).join(Model).where(Model.name == "churn")
        )
    assert len(last) == 2
    assert sum(v for _, v in last.values()) == churn
    assert all(ts == int(NOW.timestamp()) // STEP * STEP * 1000 for ts, _ in last.values())


def test_end_later_than_the_history_keeps_series_flat_to_the_end(
    store: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "later.om"
    later = NOW + timedelta(minutes=30)
    count = write_openmetrics(
        engine=store, path=path, end=later, instance=INSTANCE, step_seconds=600
    )
    stamps = {ts for _, _, _, ts in _samples(path)}
    assert max(stamps) == int(later.timestamp()) // 600 * 600
    assert count > 0
