"""Slack mrkdwn text: escaping untrusted strings, monospace tables, Markdown-ish LLM text, splitting.

Anything that came from a registry (tags, labels, repository names) or from the model is untrusted: an
image label of `<!channel>` must not ping a channel, and `<https://evil|docs>` must not become a link.
Slack's rule is that `&`, `<` and `>` are control characters; escaping them (and only them) is enough.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

SECTION_LIMIT = 3000
_ENTITY = re.compile(r"&(amp|lt|gt);")
_MD_TABLE_SEP = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
_MD_BOLD = re.compile(r"\*\*(.+?)\*\*")
_MD_LINK = re.compile(r"\[([^\]\n]+)\]\((https?://[^)\s]+)\)")
_MD_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$")


def escape_text(text: str) -> str:
    """Escape Slack's control characters so the text shows literally (no mentions, links or commands)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def inline_code(text: str) -> str:
    """A `code` span for an untrusted value (backticks would end the span, so they become quotes)."""
    return "`" + escape_text(text.replace("`", "'").replace("\n", " ")) + "`"


def sanitize_mrkdwn(text: str) -> str:
    """Make model-written text safe mrkdwn: escape control characters, keep formatting readable.

    Entities the model already wrote stay as they are; `**bold**`, `# headings`, `[text](url)` links and
    pipe tables (Markdown habits) become their Slack equivalents, links shown as plain "text (url)".
    """
    placeholder = "\x00"
    text = _ENTITY.sub(lambda m: placeholder + m.group(1) + ";", text)
    text = escape_text(text).replace(placeholder, "&")
    text = _MD_LINK.sub(lambda m: f"{m.group(1)} ({m.group(2)})", text)
    text = _MD_BOLD.sub(r"*\1*", text)
    lines = [_heading(line) for line in text.split("\n")]
    return "\n".join(_convert_tables(lines))


def _heading(line: str) -> str:
    match = _MD_HEADING.match(line)
    return f"*{match.group(1)}*" if match else line


def _convert_tables(lines: list[str]) -> list[str]:
    """Turn Markdown pipe tables (header, separator, rows) into aligned monospace blocks."""
    out: list[str] = []
    index, fenced = 0, False
    while index < len(lines):
        line = lines[index]
        if line.lstrip().startswith("```"):
            fenced = not fenced
        is_table = (
            not fenced
            and "|" in line
            and index + 1 < len(lines)
            and _MD_TABLE_SEP.match(lines[index + 1]) is not None
        )
        if not is_table:
            out.append(line)
            index += 1
            continue
        header = _cells(line)
        rows: list[list[str]] = []
        index += 2
        while index < len(lines) and "|" in lines[index] and lines[index].strip():
            rows.append(_cells(lines[index]))
            index += 1
        out.extend(format_table(header, rows, escaped=True).split("\n"))
    return out


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def format_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    right: Sequence[int] = (),
    max_cell: int = 48,
    escaped: bool = False,
) -> str:
    """A monospace table in a code block; cells are escaped (unless already) and cut at max_cell."""

    def cell(value: str) -> str:
        value = value.replace("`", "'").replace("\n", " ")
        value = value if len(value) <= max_cell else value[: max_cell - 1] + "…"
        return value if escaped else escape_text(value)

    table = [[cell(h) for h in headers], *[[cell(v) for v in row] for row in rows]]
    columns = max(len(row) for row in table)
    for row in table:
        row.extend([""] * (columns - len(row)))
    widths = [max(_width(row[c]) for row in table) for c in range(columns)]

    def render(row: list[str]) -> str:
        parts = [_pad(value, widths[c], right=c in right) for c, value in enumerate(row)]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join(["```", render(table[0]), rule, *[render(r) for r in table[1:]], "```"])


def _width(value: str) -> int:
    # Escaped entities show as one character.
    return len(_ENTITY.sub("x", value))


def _pad(value: str, width: int, *, right: bool) -> str:
    gap = " " * (width - _width(value))
    return gap + value if right else value + gap


def split_mrkdwn(text: str, *, limit: int = SECTION_LIMIT) -> list[str]:
    """Split text into chunks of at most `limit` characters on line boundaries.

    A code block cut in two is closed at the end of one chunk and reopened in the next, so each chunk
    renders on its own; a single line longer than the limit is cut hard.
    """
    budget = limit - 8  # room for a closing and a reopening fence
    chunks: list[str] = []
    current: list[str] = []
    size, fenced = 0, False
    for raw in text.split("\n"):
        for line in _hard_wrap(raw, budget):
            if current and size + len(line) + 1 > budget:
                chunks.append("\n".join([*current, "```"] if fenced else current))
                current, size = (["```"], 4) if fenced else ([], 0)
            current.append(line)
            size += len(line) + 1
            if line.lstrip().startswith("```"):
                fenced = not fenced
    if current and any(part.strip() for part in current):
        chunks.append("\n".join([*current, "```"] if fenced else current))
    return [chunk for chunk in chunks if chunk.strip() and chunk.strip() != "```\n```"] or [""]


def _hard_wrap(line: str, width: int) -> list[str]:
    if len(line) <= width:
        return [line]
    return [line[i : i + width] for i in range(0, len(line), width)]


def truncate(text: str, limit: int) -> str:
    """Cut text to at most `limit` characters, marking the cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
