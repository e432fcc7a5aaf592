"""Thresholds of the push checks and the access anomaly rules (the `events` section of the config)."""

from __future__ import annotations

import fnmatch

from pydantic import BaseModel, ConfigDict, Field


class PushRules(BaseModel):
    """When a push is anomalous."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    size_ratio: float = Field(default=3.0, gt=1.0, description="alert when new/previous bytes reach this")
    min_size_delta_bytes: int = Field(
        default=1 << 20, ge=0, description="ignore growth smaller than this, whatever the ratio"
    )
    base_changed: bool = Field(default=True, description="alert when the base image repository changes")
    base_downgraded: bool = Field(default=True, description="alert when the base tag goes to a lower version")
    require_signature: list[str] = Field(
        default_factory=list, description="repository globs whose pushes must be signed (cosign .sig tag)"
    )
    signature_grace_seconds: float = Field(
        default=120.0, ge=0, le=3600, description="wait this long after a push before checking its signature"
    )

    def requires_signature(self, repository: str) -> bool:
        """Whether pushes to this repository must carry a signature."""
        return any(fnmatch.fnmatchcase(repository, glob) for glob in self.require_signature)


class AnomalyRules(BaseModel):
    """Thresholds of the access anomaly rules."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    baseline_days: int = Field(default=30, ge=1, le=365, description="history the window is compared with")
    window_hours: int = Field(default=24, ge=1, le=24 * 14, description="the recent period that is checked")
    new_pusher: bool = True
    min_repository_pushes: int = Field(
        default=3, ge=1, description="baseline pushes before new pushers count"
    )
    new_network: bool = True
    ipv4_prefix: int = Field(default=24, ge=8, le=32)
    ipv6_prefix: int = Field(default=64, ge=16, le=128)
    min_baseline_events: int = Field(
        default=20, ge=1, description="baseline events before new networks count"
    )
    pull_spike: bool = True
    spike_ratio: float = Field(default=5.0, gt=1.0, description="window pulls / expected pulls")
    spike_min_pulls: int = Field(default=50, ge=1, description="never a spike below this many pulls")
    unusual_hour: bool = True
    min_actor_pushes: int = Field(default=10, ge=1, description="baseline pushes before hours are known")
    hour_slack: int = Field(default=1, ge=0, le=6, description="hours next to a usual hour are usual too")
    timezone: str = Field(default="UTC", description="IANA zone the hours are counted in")
    failed_logins: int = Field(default=5, ge=1, description="failures in login_window_minutes to flag")
    login_window_minutes: int = Field(default=15, ge=1, le=24 * 60)
