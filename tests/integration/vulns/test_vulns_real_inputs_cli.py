"""Issue 12 through the real `regent vulns` process: bad outside input is a clear error, never an exit 70."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli import run_regent
from tests.vulns.estate import EPSS_CSV, KEV
from tools.vulns.store import VulnStore


def _stored(state: Path) -> tuple[int, dict[str, int]]:
    store = VulnStore(state / "regent.db")
    try:
        return len(store.reports()), {name: info.entries for name, info in store.feeds().items()}
    finally:
        store.close()


def test_case1_an_epss_file_cut_off_mid_row_exits_2_and_stores_nothing(tmp_path: Path) -> None:
    cut = tmp_path / "epss.csv"
    cut.write_text(EPSS_CSV + "CVE-2026-5001,0.0004")  # an interrupted download
    done = run_regent("vulns", "feeds", "--epss", str(cut), state=tmp_path / "state")
    assert done.returncode == 2, done.stderr
    assert "line 7: expected CVE-YYYY-NNNN,epss,percentile (the file looks cut off)" in done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    assert _stored(tmp_path / "state") == (0, {})


def test_case2_a_report_nested_100000_levels_is_an_error_line_not_exit_70(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_bytes(b'{"matches": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    done = run_regent("vulns", "ingest", str(deep), state=tmp_path / "state")
    assert done.returncode == 1, done.stderr
    assert f"error      {deep}: JSON nested deeper than 64 levels" in done.stdout
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    assert _stored(tmp_path / "state") == (0, {})


def test_case9_an_empty_kev_catalog_keeps_the_loaded_one(tmp_path: Path) -> None:
    good, empty = tmp_path / "kev.json", tmp_path / "kev-empty.json"
    good.write_text(json.dumps(KEV))
    empty.write_text(json.dumps({**KEV, "count": 0, "vulnerabilities": []}))
    state = tmp_path / "state"
    assert run_regent("vulns", "feeds", "--kev", str(good), state=state).returncode == 0
    done = run_regent("vulns", "feeds", "--kev", str(empty), state=state)
    assert done.returncode == 2
    assert "the KEV catalog lists no vulnerabilities; the loaded catalog is kept" in done.stderr
    assert _stored(state) == (0, {"kev": 2})
