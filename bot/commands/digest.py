"""`regent digest`: the digest in the terminal (rich tables, chart saved to a file), or `--post` it now."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from bot.app import App, app_from_env
from bot.config import Settings, SlackEnv, load_settings
from bot.digest.extensions import extra_providers
from bot.digest.runner import DigestRunner, Poster
from bot.digest.summary import summarizer_for
from bot.digest.terminal import print_digest
from tools.errors import ConfigError


def run_digest_command(args: argparse.Namespace) -> int:
    """Print (and with --post, send) the digest; exit 1 when the post failed."""
    settings = load_settings(args.config)
    if args.no_chart:
        settings = settings.model_copy(update={"digest": settings.digest.model_copy(update={"chart": False})})
    runtime = app_from_env(settings=settings)
    runner = None
    summarizer = None
    try:
        if args.crawl:
            runtime.refresh_snapshot()
        summarizer, model = summarizer_for(settings, runtime.secrets.llm, enabled=not args.no_summary)
        runner = DigestRunner(
            runtime,
            poster=slack_poster(settings, runtime.secrets.slack) if args.post else None,
            summarizer=summarizer,
            summary_by=model,
            extra_providers=extra_providers(runtime),
        )
        return _print_or_post(runner, args, console=Console())
    finally:
        if runner is not None:
            runner.close()
        if summarizer is not None:
            summarizer.close()
        runtime.close()


def _print_or_post(runner: DigestRunner, args: argparse.Namespace, *, console: Console) -> int:
    if args.post:
        result = runner.send(kind="manual")
        if result.digest is not None:
            print_digest(result.digest, console=console)
        stream = sys.stdout if result.status == "sent" else sys.stderr
        print(f"regent: digest {result.status}: {result.message}", file=stream)
        return 0 if result.status == "sent" else 1
    digest, _plan = runner.build()
    png = runner.render_chart(digest)
    path = None
    if png is not None:
        path = Path(args.chart) if args.chart else default_chart_path(runner.runtime, digest.generated_at)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png)
    print_digest(digest, console=console, chart_path=path)
    return 0


def default_chart_path(runtime: App, when: datetime) -> Path:
    """`<state dir>/digest/regent-digest-<day>.png`."""
    return runtime.state_dir / "digest" / f"regent-digest-{when.astimezone(UTC).strftime('%Y-%m-%d')}.png"


def slack_poster(settings: Settings, env: SlackEnv) -> Poster:
    """The Slack poster for `--post`: SLACK_BOT_TOKEN and the digest channel are required."""
    from bot.slack.connect import make_web_client
    from bot.slack.digest_post import SlackDigestPoster

    channel = settings.digest.channel or settings.slack.digest_channel
    if env.bot_token is None:
        raise ConfigError("set SLACK_BOT_TOKEN to post the digest")
    if not channel:
        raise ConfigError("set digest.channel (or slack.digest_channel) in the config to post the digest")
    client = make_web_client(token=env.bot_token.get_secret_value(), base_url=env.api_url)
    return SlackDigestPoster(client, channel=channel, chart_in_thread=settings.digest.chart_in_thread)
