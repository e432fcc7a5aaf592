"""Post a digest to Slack: the message, then its chart through Slack's external upload flow.

`files_upload_v2` does the three steps: files.getUploadURLExternal (name and length), a POST of the
bytes to the returned URL, files.completeUploadExternal (shares the file to the channel, optionally in
the digest's thread). The message goes first because completeUploadExternal needs a channel ID, which
chat.postMessage returns for a `#name`. A failed chart upload never turns into a second message: the
digest is out, so it counts as sent and the failure is logged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.digest.model import Digest
from bot.slack.digest_blocks import digest_message

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PostedDigest:
    """Where the digest went."""

    channel: str
    ts: str
    file_id: str | None
    chart_error: str | None = None


class SlackDigestPoster:
    """Posts digests to one channel with one Web API client."""

    def __init__(self, client: WebClient, *, channel: str, chart_in_thread: bool = False) -> None:
        self._client = client
        self._channel = channel
        self._in_thread = chart_in_thread

    def __call__(self, digest: Digest, chart_png: bytes | None) -> PostedDigest:
        """Post the message, then upload the chart (if any); raises SlackApiError if the message fails."""
        note = None
        if chart_png is not None:
            note = "Chart: stored bytes with the forecast range, " + (
                "in this thread." if self._in_thread else "in the next message."
            )
        message = digest_message(digest, chart_note=note)
        posted = self._client.chat_postMessage(
            channel=self._channel, unfurl_links=False, unfurl_media=False, **message.payload()
        )
        channel, ts = str(posted["channel"]), str(posted["ts"])
        if chart_png is None:
            return PostedDigest(channel, ts, None)
        try:
            file_id = self._upload(digest, chart_png, channel=channel, ts=ts)
        except Exception as exc:  # the message is out: whatever broke the upload must not re-send it
            error = exc.response.get("error") if isinstance(exc, SlackApiError) else type(exc).__name__
            log.warning("digest chart upload failed: %s", error)
            return PostedDigest(channel, ts, None, chart_error=str(error))
        return PostedDigest(channel, ts, file_id)

    def _upload(self, digest: Digest, png: bytes, *, channel: str, ts: str) -> str | None:
        day = digest.generated_at.strftime("%Y-%m-%d")
        title = digest.chart.title if digest.chart else "Stored bytes"
        response = self._client.files_upload_v2(
            file=png,
            filename=f"regent-digest-{day}.png",
            title=title,
            alt_txt=f"{title}: measured stored bytes per registry and the forecast with its 90% range",
            channel=channel,
            thread_ts=ts if self._in_thread else None,
        )
        uploaded = response.get("file") or {}
        return str(uploaded.get("id")) if uploaded.get("id") else None
