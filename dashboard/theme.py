"""Colours and the plotly template every chart uses."""

from __future__ import annotations

from dataclasses import dataclass

import plotly.graph_objects as go

__all__ = ["THEME", "Theme"]


@dataclass(frozen=True)
class Theme:
    """The dashboard's palette (matches .streamlit/config.toml)."""

    primary: str = "#2563eb"
    good: str = "#16a34a"
    bad: str = "#dc2626"
    muted: str = "#9ca3af"
    grid: str = "#e5e7eb"
    text: str = "#111827"
    series: tuple[str, ...] = ("#2563eb", "#f59e0b", "#10b981", "#8b5cf6", "#ef4444", "#06b6d4")
    font_family: str = "sans-serif"

    def layout(self) -> go.Layout:
        """Base layout: white background, light grid, compact margins."""
        return go.Layout(
            font={"family": self.font_family, "color": self.text, "size": 13},
            paper_bgcolor="white",
            plot_bgcolor="white",
            colorway=list(self.series),
            margin={"l": 60, "r": 60, "t": 60, "b": 50},
            xaxis={"gridcolor": self.grid, "linecolor": self.grid},
            yaxis={"gridcolor": self.grid, "linecolor": self.grid},
            legend={"orientation": "h", "y": -0.2},
            hovermode="x unified",
        )


THEME = Theme()
