"""Trends and forecast: known linear growth, outliers, "not enough history", quota dates, cost."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tools.analysis.cost import GIB, monthly_cost, registry_cloud, storage_price
from tools.analysis.trends import (
    SeriesPoint,
    daily_points,
    fit_robust_line,
    forecast_series,
    quota_outlook,
    value_at,
)
from tools.inventory.models import RegistrySource

START = datetime(2026, 10, 1, 6, 0, tzinfo=UTC)
MIB = 1024**2


def linear(days: int, *, base: int, per_day: int) -> list[SeriesPoint]:
    return [SeriesPoint(START + timedelta(days=d), base + per_day * d) for d in range(days)]


def test_exact_linear_growth_is_forecast_exactly() -> None:
    points = linear(10, base=1000 * MIB, per_day=20 * MIB)
    forecast = forecast_series(points)
    assert forecast.status == "ok"
    assert forecast.per_day == pytest.approx(20 * MIB)
    assert forecast.per_week == pytest.approx(140 * MIB)
    for days in (30, 90):
        projection = forecast.projection(days)
        assert projection is not None
        expected = 1000 * MIB + 20 * MIB * (9 + days)
        assert projection.expected == expected
        assert projection.low == projection.high == expected  # no noise, no slope doubt: no range
        assert projection.at == points[-1].at + timedelta(days=days)


def test_outliers_barely_move_the_slope_and_widen_the_range() -> None:
    points = linear(20, base=500 * MIB, per_day=10 * MIB)
    points[5] = SeriesPoint(points[5].at, points[5].value + 900 * MIB)  # a crawl during a bulk push
    points[12] = SeriesPoint(points[12].at, points[12].value - 400 * MIB)  # a partial cleanup
    fit = fit_robust_line(points)
    assert fit is not None
    assert fit.slope == pytest.approx(10 * MIB, rel=0.02)
    forecast = forecast_series(points)
    projection = forecast.projection(30)
    assert projection is not None
    assert projection.low <= projection.expected <= projection.high


def test_noisy_growth_range_contains_the_truth() -> None:
    rng = random.Random(7)
    points = [
        SeriesPoint(START + timedelta(days=d), 2000 * MIB + 5 * MIB * d + rng.randint(-8, 8) * MIB)
        for d in range(30)
    ]
    forecast = forecast_series(points)
    projection = forecast.projection(90)
    assert projection is not None
    truth = 2000 * MIB + 5 * MIB * (29 + 90)
    assert projection.low < truth < projection.high
    assert projection.high - projection.low < 600 * MIB  # a range, not a shrug


@pytest.mark.parametrize("days", [0, 1, 2, 3])
def test_fewer_than_four_days_is_not_enough_history(days: int) -> None:
    forecast = forecast_series(linear(days, base=MIB, per_day=MIB))
    assert forecast.status == "not_enough_history"
    assert "not enough history" in forecast.reason
    assert forecast.projections == ()
    assert forecast.per_day is None


def test_many_crawls_in_a_short_span_are_not_enough_history() -> None:
    midnight = START.replace(hour=0)
    points = [SeriesPoint(midnight + timedelta(hours=h), MIB * h) for h in range(48)]
    daily = daily_points(points)
    assert len(daily) == 2
    assert forecast_series(daily).status == "not_enough_history"
    assert forecast_series(points).status == "not_enough_history"  # hourly points span two days


def test_daily_points_keep_the_last_crawl_of_each_local_day() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    points = [
        SeriesPoint(datetime(2026, 11, 26, 22, 30, tzinfo=UTC), 1),  # 23:30 Berlin, the 26th
        SeriesPoint(datetime(2026, 11, 26, 23, 30, tzinfo=UTC), 2),  # 00:30 Berlin, the 27th
        SeriesPoint(datetime(2026, 11, 27, 10, 0, tzinfo=UTC), 3),
    ]
    assert [p.value for p in daily_points(points, tz=berlin)] == [1, 3]
    assert [p.value for p in daily_points(points)] == [2, 3]
    assert value_at(points, datetime(2026, 11, 27, 0, 0, tzinfo=UTC)) == points[1]
    assert value_at(points, datetime(2026, 11, 1, tzinfo=UTC)) is None


def test_quota_date_follows_the_line() -> None:
    forecast = forecast_series(linear(10, base=GIB, per_day=GIB // 10))  # +0.1 GiB/day from 1.9 GiB
    outlook = quota_outlook(forecast, 5 * GIB)
    assert outlook.status == "reached"
    # 3.1 GiB to go at 0.1 GiB/day: 31 days after the last point (2026-10-10)
    assert outlook.expected == date(2026, 11, 10)
    assert outlook.earliest == outlook.latest == outlook.expected


def test_quota_exceeded_unknown_and_not_reached() -> None:
    growing = forecast_series(linear(10, base=GIB, per_day=MIB))
    assert quota_outlook(growing, GIB // 2).status == "exceeded"
    assert quota_outlook(forecast_series(linear(2, base=GIB, per_day=MIB)), 2 * GIB).status == "unknown"
    flat = forecast_series(linear(10, base=GIB, per_day=0))
    assert quota_outlook(flat, 2 * GIB).status == "not_reached"
    assert quota_outlook(growing, 100 * 1024 * GIB).status == "not_reached"  # beyond two years


def test_cost_defaults_by_cloud_and_configured_prices() -> None:
    ecr = RegistrySource(name="prod", url="https://123456789012.dkr.ecr.eu-west-1.amazonaws.com")
    acr = RegistrySource(name="acr", url="https://team.azurecr.io")
    gar = RegistrySource(name="gar", url="https://europe-west3-docker.pkg.dev")
    portainer_ecr = RegistrySource(name="aws", url="https://x.example.com", kind="ecr")
    harbor = RegistrySource(name="harbor", url="https://harbor.example.com")
    assert [registry_cloud(s) for s in (ecr, acr, gar, portainer_ecr, harbor)] == [
        "ecr",
        "azure",
        "gar",
        "ecr",
        "custom",
    ]
    assert storage_price(ecr, configured={}).per_gb_month == 0.10
    assert storage_price(ecr, configured={}).source == "cloud default"
    assert storage_price(harbor, configured={}).per_gb_month == 0.0
    assert storage_price(harbor, configured={"harbor": 0.02}).source == "configured"
    assert storage_price(harbor, configured={"https://harbor.example.com": 0.03}).per_gb_month == 0.03
    assert monthly_cost(250 * GIB, 0.10) == pytest.approx(25.0)
