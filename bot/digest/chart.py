"""The digest's chart: stored bytes per registry over time, with the forecast and its range, as a PNG.

matplotlib is imported when a chart is drawn (never at import time) and used through its object API with
the Agg canvas: no display, no pyplot global state, so the scheduler thread can draw while others work.
"""

from __future__ import annotations

import io
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from bot.digest.model import ChartData, ChartSeries
from tools.units import BINARY_UNITS, format_bytes

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e")


def pick_unit(largest: int) -> tuple[str, int]:
    """The binary unit that shows `largest` bytes as a number from 1 to 1024."""
    for name, factor in reversed(BINARY_UNITS[:-1]):  # up to TiB: an axis in PiB helps nobody
        if largest >= factor:
            return name, factor
    return "B", 1


def draw_chart(chart: ChartData, *, width_px: int = 1200, height_px: int = 600) -> Figure:
    """The chart as a matplotlib Figure (object API only: no pyplot state, safe on any thread)."""
    import matplotlib.dates as mdates
    from matplotlib.figure import Figure

    tz = ZoneInfo(chart.timezone)
    largest = max(
        [p.bytes for s in chart.series for p in s.history]
        + [b.high for s in chart.series for b in s.forecast]
        + [1]
    )
    unit, factor = pick_unit(largest)
    dpi = 100
    fig = Figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi)
    ax = fig.add_subplot()
    for index, series in enumerate(chart.series):
        _draw_series(ax, series, color=PALETTE[index % len(PALETTE)], factor=factor, tz=tz, top=largest)
    latest = max((p.at for s in chart.series for p in s.history), default=None)
    if latest is not None:
        when = float(mdates.date2num(latest))  # type: ignore[no-untyped-call]
        ax.axvline(when, color="grey", linewidth=0.8, linestyle="-", label="last crawl")
    ax.set_title(chart.title, fontsize=12)
    ax.set_xlabel(f"Date ({chart.timezone})")
    ax.set_ylabel(f"Stored bytes ({unit})")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d", tz=tz))  # type: ignore[no-untyped-call]
    fig.autofmt_xdate()
    ax.legend(loc="upper left", fontsize=9)
    fig.tight_layout()
    return fig


def render_chart(chart: ChartData) -> bytes:
    """The chart as PNG bytes (Agg; no Software/date metadata, so equal data gives equal bytes)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = draw_chart(chart)
    FigureCanvasAgg(fig)  # attaches itself as fig.canvas
    out = io.BytesIO()
    fig.savefig(out, format="png", metadata={"Software": None})
    return out.getvalue()


def _draw_series(ax: Any, series: ChartSeries, *, color: str, factor: int, tz: ZoneInfo, top: int) -> None:
    def local(moment: datetime) -> datetime:
        return moment.astimezone(tz)

    xs = [local(p.at) for p in series.history]
    ax.plot(
        xs,
        [p.bytes / factor for p in series.history],
        marker="o",
        markersize=3,
        color=color,
        label=f"{series.registry} (measured)",
    )
    if series.forecast:
        fx = [local(b.at) for b in series.forecast]
        ax.plot(
            fx,
            [b.expected / factor for b in series.forecast],
            linestyle="--",
            color=color,
            label=f"{series.registry} (forecast)",
        )
        ax.fill_between(
            fx,
            [b.low / factor for b in series.forecast],
            [b.high / factor for b in series.forecast],
            color=color,
            alpha=0.15,
            label=f"{series.registry} (90% range)",
        )
        ax.plot(fx[1:], [b.expected / factor for b in series.forecast[1:]], "o", color=color, markersize=4)
        for band in series.forecast[1:]:  # the figures the digest quotes, where they are on the chart
            ax.annotate(
                format_bytes(band.expected),
                (local(band.at), band.expected / factor),
                textcoords="offset points",
                xytext=(-4, 6),
                ha="right",
                fontsize=8,
                color=color,
            )
    if series.quota is None:
        return
    if series.quota <= top * 1.5:
        ax.axhline(
            series.quota / factor, color=color, linestyle=":", linewidth=1.5, label=f"{series.registry} quota"
        )
    else:  # a far-away quota would flatten every line; name it in the legend instead
        ax.plot(
            [],
            [],
            color=color,
            linestyle=":",
            label=f"{series.registry} quota {format_bytes(series.quota)} (above)",
        )
