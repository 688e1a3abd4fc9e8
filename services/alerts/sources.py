"""What reading a rule needs besides the store: Prometheus, the settings, the drift cache.

:meth:`Sources.from_settings` builds it once per process (the worker, the page): the
Prometheus client and the active query preset (or why they cannot be had), the Drift
page's configuration (time zone, drift share, per-feature tests), and a
:class:`DriftCache` of finished days' drift results and of versions' training references,
so a drift rule evaluated every 15 minutes recomputes only the day so far.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from services.drift.config import DriftConfig, DriftConfigError, load_drift_config
from services.prometheus.connection import source_from_settings
from services.prometheus.presets import Preset, PresetError, active_preset
from services.prometheus.source import MetricsSource
from services.settings import Settings, SettingsError

__all__ = ["DriftCache", "Sources"]

T = TypeVar("T")


class DriftCache:
    """A small per-process cache, least recently used out first, safe across threads.

    Keys say everything a value depends on: a finished day's drift result is keyed by
    model, reference version, day and row count (a day to which rows were added is
    computed again); a training reference by version row id.
    """

    def __init__(self, max_entries: int = 512) -> None:
        self._max = max_entries
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get_or_compute(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The value cached under ``key``, computed (outside the lock) when missing."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                value: T = self._items[key]
                return value
            self.misses += 1
        value = compute()
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._max:
                self._items.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._items)


@dataclass
class Sources:
    """What observation needs besides the store.

    Attributes:
        settings: the settings (SLO, time zone, drift share, the drift configuration).
        prometheus: the Prometheus client (``None``: not configured; ``prometheus_problem``
            says why).
        preset: the active query preset (``None``: see ``prometheus_problem``).
        drift_config: the Drift page's configuration file (``None``: unreadable, see
            ``drift_problem``).
        drift: the cache of finished days and training references.
    """

    settings: Settings
    prometheus: MetricsSource | None = None
    preset: Preset | None = None
    prometheus_problem: str = ""
    drift_config: DriftConfig | None = field(default_factory=DriftConfig)
    drift_problem: str = ""
    drift: DriftCache = field(default_factory=DriftCache)

    @classmethod
    def from_settings(cls, settings: Settings) -> Sources:
        """The sources the settings describe; a part that cannot be built is left out with
        the reason (rules that need it go *unknown*, saying why)."""
        prometheus: MetricsSource | None = None
        preset: Preset | None = None
        problem = ""
        try:
            prometheus = source_from_settings(settings)
            preset = active_preset(settings)
        except (SettingsError, PresetError) as exc:
            prometheus, problem = None, f"Prometheus is not usable: {exc}"
        config: DriftConfig | None = None
        drift_problem = ""
        try:
            config = load_drift_config(settings.drift_config_file or None)
        except DriftConfigError as exc:
            drift_problem = f"the drift configuration cannot be used: {exc}"
        return cls(settings=settings, prometheus=prometheus, preset=preset,
                   prometheus_problem=problem, drift_config=config,
                   drift_problem=drift_problem)
