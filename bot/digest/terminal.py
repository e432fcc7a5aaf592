"""The digest in the terminal: rich text and tables, from the same strings Slack shows.

Registry strings can hold `[brackets]`, which rich would read as markup; everything goes through Text
objects, never markup strings.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from bot.digest.model import Digest, DigestSection, DigestTable, omitted_text

_STYLE = {"info": "bold", "warning": "bold yellow", "risk": "bold red"}


def print_digest(digest: Digest, *, console: Console, chart_path: Path | None = None) -> None:
    """Print the whole digest; `chart_path` names where the chart was saved, if it was."""
    console.print(Rule(Text(digest.title, style="bold")))
    for line in digest.headline:
        console.print(Text(line))
    if digest.summary:
        console.print()
        console.print(Text(f"Summary ({_summary_source(digest)}):", style="bold"))
        console.print(Text(digest.summary))
    for section in digest.sections:
        console.print()
        _print_section(section, console)
    if chart_path is not None:
        console.print()
        console.print(Text(f"Chart saved to {chart_path}", style="dim"))


def _summary_source(digest: Digest) -> str:
    by = f"written by {digest.summary_by}" if digest.summary_by else "written by the language model"
    return f"{by} from the figures below"


def _print_section(section: DigestSection, console: Console) -> None:
    console.print(Text(section.title, style=_STYLE[section.severity]))
    for line in section.lines:
        console.print(Text(line))
    if section.table is not None:
        console.print(_table(section.table))
        if section.table.omitted:
            console.print(Text(omitted_text(section.table.omitted), style="dim"))
    for note in section.notes:
        console.print(Text(note, style="dim"))
    for action in section.actions:
        console.print(Text(f"→ {action.label}: {action.cli_hint or action.value}", style="cyan"))


def _table(data: DigestTable) -> Table:
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    for index, header in enumerate(data.headers):
        # Names stay whole (the first column); figures wrap at spaces on narrow terminals, never cut.
        table.add_column(
            Text(header),
            justify="right" if index in data.right else "left",
            overflow="fold",
            no_wrap=index == 0,
        )
    for row in data.rows:
        table.add_row(*(Text(cell) for cell in row))
    return table
