"""The digest's "Fix first" section, through `regent digest` on the crawled estate (no Slack, no LLM)."""

from __future__ import annotations

from pathlib import Path

from tests.vulns.estate import Estate, regent


def test_digest_has_a_fix_first_section_of_at_most_ten_rows(estate: Estate, state: Path) -> None:
    before = regent("digest", "--no-chart", "--no-summary", state=state, config=estate.config)
    assert before.returncode == 0, before.stderr
    assert "Fix first" not in before.stdout  # no report uploaded yet: no section at all
    for args in (("feeds",), ("ingest", str(estate.reports))):
        assert regent("vulns", *args, state=state, config=estate.config).returncode == 0
    wide = {"COLUMNS": "220"}
    done = regent("digest", "--no-chart", "--no-summary", state=state, config=estate.config, extra_env=wide)
    assert done.returncode == 0, done.stderr
    text = done.stdout
    section = text[text.index("\nFix first\n") :]
    assert "3 urgent (P1/P2) of 9 CVEs in 6 scanned images." in section
    assert "First: CVE-2026-1001 — known exploited (CISA KEV" in section
    assert section.index("CVE-2026-1001") < section.index("CVE-2026-2001") < section.index("CVE-2026-1002")
    assert "CISA KEV data is" in section and "EPSS data is" in section and "days old" in section
    assert "2 uploaded report(s) match no image in the registries." in section
    rows = [line for line in section.splitlines() if line.startswith(("P1 ", "P2 ", "P3 ", "P4 ", "P5 "))]
    assert len(rows) == 9 and rows[0].split()[:2] == ["P1", "CVE-2026-1001"]
