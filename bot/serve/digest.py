"""The digest feature of `regent serve`: the scheduler thread, the Slack poster and the proposal button.

`digest_service_for` returns None when no digest channel is configured (digest.channel or
slack.digest_channel): nothing is scheduled then. The scheduler posts through the bot's own WebClient;
the button's clicks are handled on the Slack app's tasks pool.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from bot.app import App
from bot.config import LLMEnv
from bot.digest.context import SectionProvider
from bot.digest.extensions import extra_providers
from bot.digest.runner import DigestRunner, DigestScheduler
from bot.digest.summary import summarizer_for
from bot.slack.app import RegentSlack
from bot.slack.digest_actions import DigestProposals, register_digest_actions
from bot.slack.digest_post import SlackDigestPoster


class DigestService:
    """Schedules digests to one channel and turns their buttons into proposals."""

    def __init__(
        self,
        runtime: App,
        slack: RegentSlack,
        *,
        channel: str,
        providers: Sequence[SectionProvider] = (),
        llm_env: LLMEnv | None = None,
    ) -> None:
        options = runtime.settings.digest
        poster = SlackDigestPoster(slack.client, channel=channel, chart_in_thread=options.chart_in_thread)
        self.summarizer, model = summarizer_for(runtime.settings, llm_env or LLMEnv(), enabled=True)
        self.runner = DigestRunner(
            runtime,
            poster=poster,
            summarizer=self.summarizer,
            summary_by=model,
            extra_providers=providers,
            clock=runtime.clock,
        )
        self.scheduler = DigestScheduler(self.runner, clock=runtime.clock)
        self.proposals = DigestProposals(
            client=slack.client,
            proposals=runtime.proposals,
            plans=runtime.plans,
            desk=slack.desk,
            ttl=timedelta(hours=runtime.settings.slack.proposal_ttl_hours),
            clock=runtime.clock,
            read_only=runtime.toolbox.context.read_only,
        )
        register_digest_actions(slack, self.proposals)

    def start(self) -> None:
        """Start the scheduler thread."""
        self.scheduler.start()

    def close(self) -> None:
        """Stop the scheduler (a digest being sent finishes first) and close the send log."""
        self.scheduler.stop()
        self.runner.close()
        if self.summarizer is not None:
            self.summarizer.close()


def digest_service_for(runtime: App, *, slack: RegentSlack) -> DigestService | None:
    """The digest service from the settings, or None without a digest channel."""
    channel = runtime.settings.digest.channel or runtime.settings.slack.digest_channel
    if not channel:
        return None
    return DigestService(
        runtime, slack, channel=channel, providers=extra_providers(runtime), llm_env=runtime.secrets.llm
    )
