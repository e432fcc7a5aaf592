"""What a `/regent` subcommand answers, as plain data: the Slack renderer escapes and lays it out.

Every string here is plain text, possibly from a registry (untrusted); nothing is mrkdwn.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Table:
    """Rows under headers; `right` lists the columns to right-align (numbers)."""

    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    title: str = ""
    right: tuple[int, ...] = ()
    omitted: int = 0  # rows left out to stay readable; the renderer says so


@dataclass(frozen=True, slots=True)
class Report:
    """A deterministic answer: a title, lines of text, tables, notes, and the proposals it made."""

    title: str
    lines: tuple[str, ...] = ()
    tables: tuple[Table, ...] = ()
    notes: tuple[str, ...] = ()
    proposal_ids: tuple[str, ...] = field(default=())
    error: bool = False  # the command could not answer; `lines` say why and what to do
    code: str = ""  # shown verbatim in a code block (a Dockerfile snippet)
    file_name: str = ""  # a document to upload to the channel with the answer (the compliance PDF)
    file_content: bytes = b""
