"""Storage trends and forecasts from snapshot history: a robust line through daily points, with a range.

How the forecast is computed (docs/digest.md repeats this for users):
- The series is reduced to one point per calendar day (the last crawl of that day), and partial crawls
  are left out because they undercount.
- The growth rate is the Theil-Sen slope: the median of the slopes between every pair of points. Up to
  ~29% of the points can be outliers (a crawl during a bulk push, a cleanup) without moving it much.
- The projection starts at the latest actual value, not at the fitted line, so a cleanup shows at once:
  expected(h) = latest + slope * h.
- The range combines the 90% confidence interval of the slope (Sen 1968, the same rank formula as
  scipy.stats.theilslopes) with the day-to-day noise (1.645 * 1.4826 * MAD of the residuals):
  low(h) = latest + slope_low * h - noise, high(h) = latest + slope_high * h + noise, never below 0.
- Fewer than MIN_POINTS days, or a span shorter than MIN_SPAN_DAYS, is "not enough history": no numbers.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Literal

from tools.analysis.clocks import SECONDS_PER_DAY, as_utc

MIN_POINTS = 4
MIN_SPAN_DAYS = 3.0
Z_90 = 1.6448536269514722  # two-sided 90% normal quantile
MAD_TO_SIGMA = 1.4826  # MAD of a normal sample * this = its standard deviation
DEFAULT_HORIZONS = (30, 90)
QUOTA_HORIZON_DAYS = 730  # beyond two years a straight line says nothing useful

ForecastStatus = Literal["ok", "not_enough_history"]
QuotaStatus = Literal["exceeded", "reached", "not_reached", "unknown"]


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    """One value of a series at one time (bytes, UTC time)."""

    at: datetime
    value: int


def daily_points(points: Iterable[SeriesPoint], *, tz: tzinfo = UTC) -> list[SeriesPoint]:
    """The last point of each calendar day in `tz`, oldest first."""
    by_day: dict[date, SeriesPoint] = {}
    for point in sorted(points, key=lambda p: as_utc(p.at)):
        by_day[as_utc(point.at).astimezone(tz).date()] = SeriesPoint(as_utc(point.at), point.value)
    return [by_day[day] for day in sorted(by_day)]


def value_at(points: Sequence[SeriesPoint], moment: datetime) -> SeriesPoint | None:
    """The latest point at or before `moment`, or None when the series starts later."""
    target = as_utc(moment)
    found = None
    for point in points:
        if as_utc(point.at) <= target:
            found = point
    return found


@dataclass(frozen=True, slots=True)
class LinearFit:
    """A Theil-Sen line: slope in units per day with its 90% interval, and the residual noise."""

    slope: float
    slope_low: float
    slope_high: float
    intercept: float  # value of the line at `origin`
    origin: datetime
    noise: float  # 90% half-width of one day's deviation from the line
    points: int
    span_days: float


def fit_robust_line(points: Sequence[SeriesPoint]) -> LinearFit | None:
    """Theil-Sen fit of value over days; None with fewer than two distinct times."""
    if len(points) < 2:
        return None
    origin = as_utc(points[0].at)
    xs = [(as_utc(p.at) - origin).total_seconds() / SECONDS_PER_DAY for p in points]
    ys = [float(p.value) for p in points]
    slopes = sorted(
        (ys[j] - ys[i]) / (xs[j] - xs[i])
        for i in range(len(xs))
        for j in range(i + 1, len(xs))
        if xs[j] != xs[i]
    )
    if not slopes:
        return None
    slope = statistics.median(slopes)
    low, high = _slope_interval(slopes, len(points))
    intercept = statistics.median(y - slope * x for x, y in zip(xs, ys, strict=True))
    residuals = [y - (intercept + slope * x) for x, y in zip(xs, ys, strict=True)]
    mad = statistics.median(abs(r - statistics.median(residuals)) for r in residuals)
    return LinearFit(
        slope=slope,
        slope_low=low,
        slope_high=high,
        intercept=intercept,
        origin=origin,
        noise=Z_90 * MAD_TO_SIGMA * mad,
        points=len(points),
        span_days=xs[-1] - xs[0],
    )


def _slope_interval(slopes: Sequence[float], n: int) -> tuple[float, float]:
    """Sen's 90% confidence interval of the median slope (ties ignored, as with distinct days)."""
    count = len(slopes)
    sigma = math.sqrt(n * (n - 1) * (2 * n + 5) / 18.0)
    upper = min(round((count + Z_90 * sigma) / 2.0), count - 1)
    lower = max(round((count - Z_90 * sigma) / 2.0) - 1, 0)
    return slopes[lower], slopes[upper]


@dataclass(frozen=True, slots=True)
class Projection:
    """Expected value `days` after the latest point, with its range."""

    days: int
    at: datetime
    expected: int
    low: int
    high: int


@dataclass(frozen=True, slots=True)
class Forecast:
    """A series' growth and projections, or why there are none."""

    status: ForecastStatus
    reason: str
    points: int
    span_days: float
    latest: SeriesPoint | None
    fit: LinearFit | None = None
    projections: tuple[Projection, ...] = ()

    @property
    def per_day(self) -> float | None:
        """Robust growth per day, when there is enough history."""
        return self.fit.slope if self.fit else None

    @property
    def per_week(self) -> float | None:
        """Robust growth per week, when there is enough history."""
        return self.fit.slope * 7 if self.fit else None

    def projection(self, days: int) -> Projection | None:
        """The projection for this horizon, if computed."""
        return next((p for p in self.projections if p.days == days), None)


def forecast_series(
    points: Sequence[SeriesPoint],
    *,
    horizons: Sequence[int] = DEFAULT_HORIZONS,
    min_points: int = MIN_POINTS,
    min_span_days: float = MIN_SPAN_DAYS,
) -> Forecast:
    """Forecast a daily series (see the module docstring); says "not enough history" rather than guess."""
    latest = points[-1] if points else None
    fit = fit_robust_line(points) if len(points) >= min_points else None
    span = fit.span_days if fit else _span(points)
    if fit is None or fit.span_days < min_span_days or latest is None:
        reason = (
            f"not enough history: {len(points)} daily points over {span:.1f} days "
            f"(a forecast needs at least {min_points} days spanning {min_span_days:g})"
        )
        return Forecast("not_enough_history", reason, len(points), span, latest)
    projections = tuple(_project(latest, fit, days) for days in horizons)
    reason = f"Theil-Sen slope over {fit.points} daily points ({fit.span_days:.0f} days), 90% range"
    return Forecast("ok", reason, fit.points, fit.span_days, latest, fit, projections)


def _span(points: Sequence[SeriesPoint]) -> float:
    if len(points) < 2:
        return 0.0
    return (as_utc(points[-1].at) - as_utc(points[0].at)).total_seconds() / SECONDS_PER_DAY


def _project(latest: SeriesPoint, fit: LinearFit, days: int) -> Projection:
    base = float(latest.value)
    expected = base + fit.slope * days
    low = base + fit.slope_low * days - fit.noise
    high = base + fit.slope_high * days + fit.noise
    return Projection(
        days=days,
        at=as_utc(latest.at) + timedelta(days=days),
        expected=max(0, round(expected)),
        low=max(0, math.floor(min(low, expected))),
        high=max(0, math.ceil(max(high, expected))),
    )


@dataclass(frozen=True, slots=True)
class QuotaOutlook:
    """When a series reaches a quota: expected date and the range the slope interval allows."""

    quota: int
    status: QuotaStatus
    expected: date | None = None
    earliest: date | None = None
    latest: date | None = None  # None with status "reached": the slow end of the range never gets there


def quota_outlook(forecast: Forecast, quota: int, *, horizon_days: int = QUOTA_HORIZON_DAYS) -> QuotaOutlook:
    """The date the forecast reaches `quota` (bytes), within `horizon_days` of the latest point."""
    latest = forecast.latest
    if latest is not None and latest.value >= quota:
        return QuotaOutlook(quota, "exceeded")
    fit = forecast.fit
    if forecast.status != "ok" or fit is None or latest is None:
        return QuotaOutlook(quota, "unknown")
    gap = quota - latest.value

    def reach(slope: float, headroom: float) -> date | None:
        if gap - headroom <= 0:
            return as_utc(latest.at).date()
        if slope <= 0:
            return None
        days = (gap - headroom) / slope
        if days > horizon_days:
            return None
        return (as_utc(latest.at) + timedelta(days=days)).date()

    expected = reach(fit.slope, 0.0)
    earliest = reach(fit.slope_high, fit.noise)
    slowest = reach(fit.slope_low, -fit.noise) if fit.slope_low > 0 else None
    if expected is None:
        return QuotaOutlook(quota, "not_reached", earliest=earliest)
    return QuotaOutlook(quota, "reached", expected=expected, earliest=earliest, latest=slowest)
