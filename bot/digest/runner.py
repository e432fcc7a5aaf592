"""Build and send digests from the runtime's live data, and the scheduler that runs inside `regent serve`.

A send claims its local day first (bot/digest/log.py), then crawls (scheduled digests, when
`digest.crawl_first`), builds the digest from the latest snapshot, stores the retention plan so the
digest's "Turn into a proposal" button can find it, renders the chart and hands both to the poster.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Literal, Protocol
from zoneinfo import ZoneInfo

from bot.app import DB_NAME, App
from bot.digest.build import Summarizer, build_digest, default_providers, empty_digest
from bot.digest.context import DigestContext, RetentionView, SectionProvider, collect_context
from bot.digest.log import DigestLog, SendKind
from bot.digest.model import Digest
from bot.schedule import CronSchedule, parse_cron
from tools.errors import RegentError
from tools.policy.evaluate import evaluate_policies, evaluate_snapshot
from tools.policy.plans import Plan

log = logging.getLogger(__name__)

SendStatus = Literal["sent", "skipped", "failed"]
MAX_SLEEP = timedelta(minutes=15)  # the scheduler re-checks at least this often (clock jumps, suspends)
MIN_CATCH_UP = timedelta(minutes=5)  # a wake-up a little after the firing time must still count


class Posted(Protocol):
    """What a poster reports (bot.slack.digest_post.PostedDigest has it)."""

    @property
    def channel(self) -> str: ...

    @property
    def ts(self) -> str: ...


Poster = Callable[[Digest, bytes | None], Posted]


@dataclass(frozen=True, slots=True)
class SendResult:
    """What one send did."""

    status: SendStatus
    message: str
    digest: Digest | None = None
    channel: str | None = None
    ts: str | None = None


def _utcnow() -> datetime:
    return datetime.now(UTC)


class DigestRunner:
    """Builds digests from the runtime and sends them at most once per local day (scheduled)."""

    def __init__(
        self,
        runtime: App,
        *,
        poster: Poster | None = None,
        summarizer: Summarizer | None = None,
        summary_by: str | None = None,
        extra_providers: Sequence[SectionProvider] = (),
        providers: Sequence[SectionProvider] | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.log = DigestLog(runtime.state_dir / DB_NAME)
        self._poster = poster
        self._summarizer = summarizer
        self._summary_by = summary_by
        # `providers` replaces the whole list (the Home tab needs only totals and trend).
        self._providers = (
            tuple(providers) if providers is not None else default_providers(extra=extra_providers)
        )
        self._clock = clock

    def close(self) -> None:
        """Close the digest log."""
        self.log.close()

    def build(self, *, now: datetime | None = None) -> tuple[Digest, Plan | None]:
        """The digest as of now, and the retention plan behind its button (None without policies)."""
        moment = now or self._clock()
        previous = self.log.last_sent()
        ctx = collect_context(
            self.runtime.snapshots,
            self.settings,
            now=moment,
            previous_sent_at=previous.finished_at if previous else None,
            previous_snapshot_id=previous.snapshot_id if previous else None,
            history=self.runtime.history,
            pending=self.runtime.proposals.pending(),
        )
        if ctx is None:
            return empty_digest(now=moment, timezone=ZoneInfo(self.settings.digest.timezone)), None
        ctx = replace(ctx, retention=self._retention(ctx))
        digest = build_digest(
            ctx,
            providers=self._providers,
            summarizer=self._summarizer if self.settings.digest.summary else None,
            summary_by=self._summary_by,
        )
        return digest, ctx.retention.plan

    def _retention(self, ctx: DigestContext) -> RetentionView:
        try:
            policies = self.runtime.policies()
        except RegentError as exc:
            return RetentionView(error=f"The policies file cannot be used: {exc}")
        if policies is None:
            return RetentionView()
        histories = {facts.name: facts.history for facts in ctx.registries}
        plan = evaluate_snapshot(policies, ctx.snapshot, now=ctx.now, history=histories)
        per_registry = {}
        for inventory in ctx.snapshot.registries:
            part = evaluate_policies(
                policies,
                registries=[inventory],
                deployments=ctx.snapshot.deployments,
                now=ctx.now,
                history=histories,
            )
            if part.registries:
                per_registry[inventory.source.name] = (len(part.items), part.reclaimable_bytes)
        return RetentionView(plan=plan, per_registry=per_registry)

    def send(self, *, kind: SendKind, now: datetime | None = None, day: date | None = None) -> SendResult:
        """Claim the day (scheduled), crawl if configured, build, post; failures free the day again."""
        if self._poster is None:
            raise RegentError("no Slack poster: set SLACK_BOT_TOKEN and a digest channel")
        moment = now or self._clock()
        local_day = day or moment.astimezone(ZoneInfo(self.settings.digest.timezone)).date()
        send_id = self.log.claim(local_day, kind=kind, now=moment)
        if send_id is None:
            return SendResult("skipped", f"the digest of {local_day.isoformat()} was already sent")
        try:
            if kind == "scheduled" and self.settings.digest.crawl_first:
                self._crawl()
            digest, plan = self.build(now=moment)
            if plan is not None and plan.items:
                self.runtime.plans.save(plan)  # the button carries only the plan id
            posted = self._poster(digest, self.render_chart(digest))
        except Exception as exc:
            self.log.mark_failed(send_id, error=f"{type(exc).__name__}: {exc}", now=self._clock())
            log.exception("digest for %s failed", local_day)
            return SendResult("failed", f"the digest could not be sent ({type(exc).__name__})")
        self.log.mark_sent(
            send_id,
            channel=posted.channel,
            ts=posted.ts,
            snapshot_id=digest.snapshot_id,
            now=self._clock(),
            headline=digest.headline,
        )
        self.runtime.audit.append(
            actor="regent",
            kind="digest_sent",
            payload={"day": local_day.isoformat(), "kind": kind, "channel": posted.channel, "ts": posted.ts},
        )
        return SendResult("sent", f"sent to {posted.channel}", digest, posted.channel, posted.ts)

    def render_chart(self, digest: Digest) -> bytes | None:
        """The chart PNG, when the digest has data for one and charts are on."""
        if not self.settings.digest.chart or digest.chart is None:
            return None
        from bot.digest.chart import render_chart

        return render_chart(digest.chart)

    def _crawl(self) -> None:
        try:
            self.runtime.refresh_snapshot()
        except RegentError as exc:  # the digest still goes out, from the last good snapshot
            log.warning("crawl before the digest failed: %s", exc)


class DigestScheduler:
    """Runs scheduled digests on a thread: on time, once a day, catching up after a restart."""

    def __init__(self, runner: DigestRunner, *, clock: Callable[[], datetime] = _utcnow) -> None:
        options = runner.settings.digest
        self.runner = runner
        self.schedule: CronSchedule = parse_cron(options.cron, timezone=options.timezone)
        self._catch_up = max(timedelta(hours=options.catch_up_hours), MIN_CATCH_UP)
        self._retry = timedelta(minutes=options.retry_minutes)
        self._max_attempts = options.max_attempts
        self._clock = clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="regent-digest", daemon=True)

    def due(self, now: datetime) -> datetime | None:
        """The firing this moment should serve (on time or within the catch-up window), else None."""
        fire = self.schedule.next_after(now - self._catch_up - timedelta(microseconds=1))
        return fire if fire <= now else None

    def tick(self, now: datetime | None = None) -> SendResult | None:
        """Send the due digest if its day has none yet; None when nothing is due or attempts ran out."""
        moment = now or self._clock()
        fire = self.due(moment)
        if fire is None:
            return None
        day = fire.astimezone(self.schedule.timezone).date()
        if self.runner.log.failures(day) >= self._max_attempts:
            return None
        return self.runner.send(kind="scheduled", now=moment, day=day)

    def start(self) -> None:
        """Start the scheduler thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread (a send in progress finishes first)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                result = self.tick()
            except Exception:  # the scheduler must outlive any one bad day
                log.exception("scheduled digest failed")
                result = None
            now = self._clock()
            wait = self.schedule.next_after(now) - now
            if result is not None and result.status == "failed":
                wait = self._retry
            self._stop.wait(min(wait, MAX_SLEEP).total_seconds())
