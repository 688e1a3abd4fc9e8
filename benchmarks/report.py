"""How every benchmark reports: its figures printed one a line and written as JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from services.settings import PROJECT_ROOT

__all__ = ["report"]


def report(figures: dict[str, Any], path: Path) -> None:
    """Write ``figures`` as JSON to ``path`` (its folder made) and print them aligned."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    width = max(len(k) for k in figures)
    for key, value in figures.items():
        print(f"{key:<{width}}  {value}")
    try:
        shown: Path = path.resolve().relative_to(PROJECT_ROOT)
    except ValueError:
        shown = path
    print(f"written to {shown}")
