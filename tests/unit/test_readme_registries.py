"""The README's registry table is what the adapter classes say (#13): docs cannot drift from code."""

from __future__ import annotations

from pathlib import Path

from tools.registry.kinds.select import KINDS, adapter_class
from tools.registry.kinds.table import END, START, capability_rows, markdown_table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_table_matches_the_adapters_capabilities() -> None:
    text = README.read_text()
    assert START in text and END in text, "the README lost its registries table markers"
    shown = text[text.index(START) : text.index(END) + len(END)]
    assert shown == markdown_table(), "README out of date: paste `python -m tools.registry.kinds.table`"


def test_every_kind_has_a_row_with_its_own_clocks() -> None:
    rows = {row[0].strip("`"): row for row in capability_rows()}
    assert list(rows) == list(KINDS)
    for kind, row in rows.items():
        caps = adapter_class(kind).capabilities
        assert (row[3], row[4]) == (caps.push_clock or "none", caps.pull_clock or "none")
