"""The App Home tab in `regent serve`: its figures from the digest, and its registration on the Bolt app.

The figures are the digest's: a DigestRunner with only the totals and trend providers builds them from
the latest snapshot (with the retention plan behind the reclaimable repositories), and the last sent
digest's headline comes from the digest log. Building costs a policy evaluation, so the result is kept
per snapshot for CACHE_FOR and built by one thread at a time (many users opening Home at once).
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from bot.app import App
from bot.digest.home import HomeFacts, LastDigest, home_facts
from bot.digest.model import Digest
from bot.digest.runner import DigestRunner
from bot.digest.sections_storage import forecast_section, overview_section
from bot.slack.app import RegentSlack
from bot.slack.home import HomeTab, register_home
from tools.policy.plans import Plan

CACHE_FOR = timedelta(minutes=5)


class DigestHomeSource:
    """HomeFacts from the digest's own builder, cached per snapshot."""

    def __init__(self, runtime: App) -> None:
        self._runtime = runtime
        self._runner = DigestRunner(
            runtime, providers=(overview_section, forecast_section), clock=runtime.clock
        )
        self._lock = threading.Lock()
        self._cached: tuple[int, datetime, Digest, Plan | None] | None = None

    def close(self) -> None:
        """Close the digest log connection."""
        self._runner.close()

    def facts(self) -> HomeFacts | None:
        """The figures of the latest snapshot; None before the first inventory."""
        stats = self._runtime.snapshots.stats()
        if not stats:
            return None
        latest = max(s.snapshot_id for s in stats)
        with self._lock:
            now = self._runtime.clock()
            cached = self._cached
            if cached is None or cached[0] != latest or now - cached[1] > CACHE_FOR:
                digest, plan = self._runner.build(now=now)
                cached = self._cached = (latest, now, digest, plan)
        _, _, digest, plan = cached
        if digest.snapshot_id is None:
            return None
        return home_facts(digest, plan, last=self._last_digest())

    def _last_digest(self) -> LastDigest | None:
        sent = self._runner.log.last_sent()
        if sent is None:
            return None
        return LastDigest(
            sent_at=sent.finished_at or sent.started_at,
            channel=sent.channel,
            ts=sent.ts,
            headline=sent.headline,
        )


def home_for(runtime: App, slack: RegentSlack) -> DigestHomeSource:
    """Register the Home tab on the Slack app; returns its source (close it on stop)."""
    source = DigestHomeSource(runtime)
    tab = HomeTab(
        client=slack.client,
        proposals=slack.services.proposals,
        authorizer=slack.services.authorizer,
        desk=slack.desk,
        source=source,
        clock=runtime.clock,
    )
    register_home(slack, tab)
    return source
