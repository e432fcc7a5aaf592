"""The digest as one data model, rendered twice (rich in the terminal, Block Kit in Slack).

Every figure is formatted once, here or by the section that makes it, into plain strings; renderers only
lay those strings out (and escape them for Slack), so the terminal and Slack show the same figures by
construction. Strings may come from registries (tags, repository names): they are plain text, never
markup. A section with nothing to say is not made at all.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_ROWS = 10  # per table, whatever a section asks: keeps the Slack message within its limits
PROPOSE_ACTION = "digest_propose_plan"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DigestTable(_Frozen):
    """Rows under headers, all plain text; `omitted` rows were left out and the renderers say so."""

    headers: list[str]
    rows: list[list[str]]
    right: list[int] = Field(default_factory=list, description="column indexes to right-align")
    omitted: int = 0


class DigestAction(_Frozen):
    """A button: Slack shows it; the terminal prints how to do the same from the CLI."""

    action_id: str
    label: str = Field(max_length=75)
    value: str = Field(max_length=2000, description="an opaque id; the handler looks everything up")
    confirm: str | None = Field(default=None, max_length=300)
    cli_hint: str = ""


Severity = Literal["info", "warning", "risk"]


class DigestSection(_Frozen):
    """One part of the digest: a title, lines, an optional table, notes and actions."""

    key: str = Field(description="stable id, e.g. 'overview', 'vulnerabilities'")
    title: str
    severity: Severity = "info"
    lines: list[str] = Field(default_factory=list)
    table: DigestTable | None = None
    notes: list[str] = Field(default_factory=list)
    actions: list[DigestAction] = Field(default_factory=list)


class ChartPoint(_Frozen):
    """A measured value."""

    at: datetime
    bytes: int


class ChartBand(_Frozen):
    """A forecast value with its range."""

    at: datetime
    expected: int
    low: int
    high: int


class ChartSeries(_Frozen):
    """One registry's stored bytes over time and its forecast."""

    registry: str
    history: list[ChartPoint]
    forecast: list[ChartBand] = Field(default_factory=list)
    quota: int | None = None


class ChartData(_Frozen):
    """What the PNG chart shows."""

    title: str
    timezone: str
    series: list[ChartSeries]


class Digest(_Frozen):
    """A complete digest: headline figures, sections, the chart's data and an optional LLM summary."""

    title: str
    generated_at: datetime
    timezone: str
    snapshot_id: int | None
    snapshot_taken_at: datetime | None
    headline: list[str]
    sections: list[DigestSection]
    chart: ChartData | None = None
    summary: str | None = None
    summary_by: str | None = None

    def fallback_text(self, *, limit: int = 3000) -> str:
        """Plain text for notifications and clients without blocks: the title and headline figures."""
        text = "\n".join([self.title, *self.headline])
        return text if len(text) <= limit else text[: limit - 1] + "…"

    def section(self, key: str) -> DigestSection | None:
        """The section with this key, if the digest has it."""
        return next((s for s in self.sections if s.key == key), None)


def table(
    headers: list[str],
    rows: list[list[str]],
    *,
    right: list[int] | None = None,
    limit: int = MAX_ROWS,
    total: int | None = None,
) -> DigestTable:
    """A table cut to `limit` rows (never more than MAX_ROWS); `total` counts rows cut before this."""
    keep = min(limit, MAX_ROWS)
    omitted = max(0, (len(rows) if total is None else total) - min(len(rows), keep))
    return DigestTable(headers=headers, rows=rows[:keep], right=right or [], omitted=omitted)


def omitted_text(count: int) -> str:
    """The line both renderers put under a table that was cut."""
    return f"… and {count} more"
