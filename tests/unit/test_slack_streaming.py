"""Streamed answer text is Markdown made safe: links show their URL, no Slack `<…>` token can form."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.slack.streaming import ZWSP, stream_markdown


def test_links_and_slack_tokens_are_neutralized() -> None:
    take, safe = stream_markdown("see [docs](https://evil.example/x) <!channel> <@U0BOSS>\n", final=False)
    assert take == len("see [docs](https://evil.example/x) <!channel> <@U0BOSS>\n")
    assert "docs (https://evil.example/x)" in safe and "](" not in safe
    assert "<!channel>" not in safe and "<@U0BOSS>" not in safe and f"<{ZWSP}!channel>" in safe


def test_a_link_still_arriving_waits_for_the_rest_of_its_line() -> None:
    take, safe = stream_markdown("done.\nread [the do", final=False)
    assert safe == "done.\nread " and take == len(safe)
    assert stream_markdown("[the docs](https://x.example)", final=False)[1] == "the docs (https://x.example)"
    assert stream_markdown("[unfinished", final=True)[1] == "[unfinished"  # the end sends everything


@given(st.lists(st.text(alphabet="ab<>!@[]()h:/\n ", max_size=10), max_size=10))
def test_pieces_never_form_a_token(pieces: list[str]) -> None:
    """However the text is cut into pieces, what goes out has no `<` directly before a token start."""
    pending, sent = "", ""
    for piece in pieces:
        pending += piece
        take, safe = stream_markdown(pending, final=False)
        sent, pending = sent + safe, pending[take:]
    sent += stream_markdown(pending, final=True)[1]
    assert "<!" not in sent and "<@" not in sent and "<h" not in sent
