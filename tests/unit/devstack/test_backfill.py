"""Splitting the demo history into block windows, and the backfill step around promtool."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from devstack.backfill import backfill_prometheus, split_openmetrics
from devstack.processes import StartupError
from devstack.specs import StackPaths

H = 3600
SOURCE = f"""# HELP reqs Requests.
# TYPE reqs counter
reqs_total{{model="a"}} 1 {0 * H + 60}
reqs_total{{model="a"}} 2 {1 * H}
reqs_total{{model="a"}} 3 {2 * H}
reqs_total{{model="b"}} 5 {3 * H}
# HELP lat Latency.
# TYPE lat histogram
# UNIT lat seconds
lat_bucket{{le="+Inf"}} 4 {2 * H + 1} # {{trace_id="x"}} 0.1 {5 * H}
lat_count 4 {2 * H + 1}
lat_sum 0.5 {2 * H + 1}
# EOF
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "history.om"
    path.write_text(text)
    return path


def test_each_window_gets_its_samples_with_their_family_metadata(tmp_path: Path) -> None:
    windows = split_openmetrics(_write(tmp_path, SOURCE), tmp_path / "w", window_s=2 * H)

    assert [p.name for p in windows] == ["window-0.om", f"window-{2 * H}.om"]
    first, second = (p.read_text().splitlines() for p in windows)
    assert first == [
        "# HELP reqs Requests.",
        "# TYPE reqs counter",
        f'reqs_total{{model="a"}} 1 {60}',
        f'reqs_total{{model="a"}} 2 {H}',
        "# EOF",
    ]
    assert second == [
        "# HELP reqs Requests.",
        "# TYPE reqs counter",
        f'reqs_total{{model="a"}} 3 {2 * H}',
        f'reqs_total{{model="b"}} 5 {3 * H}',
        "# HELP lat Latency.",
        "# TYPE lat histogram",
        "# UNIT lat seconds",
        f'lat_bucket{{le="+Inf"}} 4 {2 * H + 1} # {{trace_id="x"}} 0.1 {5 * H}',  # exemplar's
        f"lat_count 4 {2 * H + 1}",  # time is not the sample's
        f"lat_sum 0.5 {2 * H + 1}",
        "# EOF",
    ]


def test_a_window_starts_at_its_boundary_inclusive(tmp_path: Path) -> None:
    text = f"# TYPE g gauge\ng 1 {2 * H - 0.001}\ng 2 {2 * H}\n# EOF\n"

    windows = split_openmetrics(_write(tmp_path, text), tmp_path / "w", window_s=2 * H)

    assert [p.read_text().count("\ng ") for p in windows] == [1, 1]


def test_a_sample_without_timestamp_is_refused_with_its_line(tmp_path: Path) -> None:
    text = '# TYPE g gauge\ng{a="1"} 1 7200\ng{a="2"} 3\n# EOF\n'

    with pytest.raises(ValueError, match="line 3: sample without a timestamp"):
        split_openmetrics(_write(tmp_path, text), tmp_path / "w")


def _fake_history(monkeypatch: pytest.MonkeyPatch, text: str, samples: int) -> None:
    def write_openmetrics(*, path: Path, **_: Any) -> int:
        path.write_text(text)
        return samples

    monkeypatch.setitem(
        sys.modules, "devstack.demo.backfill", SimpleNamespace(write_openmetrics=write_openmetrics)
    )


def _backfill(paths: StackPaths, promtool: str = "promtool-not-needed") -> int:
    return backfill_prometheus(
        engine=None,  # type: ignore[arg-type]
        paths=paths,
        instance="127.0.0.1:8000",
        promtool=promtool,
        end=datetime.now(UTC),
    )


def test_no_history_leaves_the_data_folder_absent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_history(monkeypatch, "# EOF\n", samples=0)
    paths = StackPaths(tmp_path)

    assert _backfill(paths) == 0
    assert not paths.prometheus_data.exists()
    assert sorted(p.name for p in paths.prometheus_dir.iterdir()) == []


def test_a_malformed_history_is_a_startup_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_history(monkeypatch, "# TYPE g gauge\ng 1\n# EOF\n", samples=1)
    paths = StackPaths(tmp_path)

    with pytest.raises(StartupError, match="malformed"):
        _backfill(paths)
    assert sorted(p.name for p in paths.prometheus_dir.iterdir()) == []
