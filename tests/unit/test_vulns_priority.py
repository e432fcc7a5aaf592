"""The priority formula: every term, the bands, and "known exploited first" as a property."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tools.vulns.images import Exposure
from tools.vulns.priority import Signals, score_finding
from tools.vulns.reports import SEVERITIES

PROD = Exposure(level="production", environments=["prod-eu"], production_environments=["prod-eu"])
STAGING = Exposure(level="running", environments=["staging"])
STOPPED = Exposure(level="stopped")
UNUSED = Exposure(level="unused")


def test_each_term_and_band() -> None:
    kev = score_finding(
        Signals(
            kev=True,
            kev_detail="CISA KEV, added 2026-10-02",
            cvss=9.8,
            severity="CRITICAL",
            fix_state="fixed",
            fixed_versions=("3.1.4-r5",),
            exposure=PROD,
        )
    )
    assert (kev.score, kev.priority) == (747.0, "P1")
    assert kev.reason == (
        "known exploited (CISA KEV, added 2026-10-02); CRITICAL with CVSS 9.8; runs in production (prod-eu); "
        "fixed in 3.1.4-r5 → (400 + 98) * 1.5 * 1 = 747 (P1)"
    )
    epss = score_finding(Signals(epss=0.5, epss_percentile=0.97, severity="HIGH", cvss=7.5, exposure=STAGING))
    assert (epss.score, epss.priority) == (157.5, "P2")  # (100 + 75) * 1 * 0.9 (fix unknown)
    assert "EPSS 0.500, 97th percentile" in epss.reason and "runs in staging (not production)" in epss.reason
    assert "fix status unknown" in epss.reason
    severity_only = score_finding(Signals(severity="CRITICAL", fix_state="not-fixed", exposure=STOPPED))
    assert (severity_only.score, severity_only.priority) == (64.1, "P4")  # 95 * 0.75 * 0.9
    assert "CRITICAL, no CVSS (counted as 9.5)" in severity_only.reason
    assert (
        "only in stopped containers" in severity_only.reason and "no fix released yet" in severity_only.reason
    )
    low = score_finding(Signals(severity="LOW", cvss=3.1, fix_state="wont-fix", exposure=UNUSED))
    assert (low.score, low.priority) == (14.0, "P5")
    assert "nothing deploys this image" in low.reason and "vendor will not fix" in low.reason
    unknown = score_finding(Signals(severity="UNKNOWN", exposure=PROD, fix_state="fixed"))
    assert unknown.score == 75.0 and unknown.priority == "P3"  # unrated counts as medium, not as zero


def test_production_outranks_the_same_finding_elsewhere() -> None:
    scores = [
        score_finding(Signals(epss=0.2, cvss=7.0, exposure=e)).score for e in (PROD, STAGING, STOPPED, UNUSED)
    ]
    assert scores == sorted(scores, reverse=True) and len(set(scores)) == 4


signals = st.builds(
    Signals,
    epss=st.one_of(st.none(), st.floats(0, 1)),
    severity=st.sampled_from(SEVERITIES),
    cvss=st.one_of(st.none(), st.floats(0, 10)),
    fix_state=st.sampled_from(["fixed", "not-fixed", "wont-fix", "unknown"]),
    exposure=st.sampled_from([PROD, STAGING, STOPPED, UNUSED]),
)


@given(signals, signals)
def test_known_exploited_outranks_anything_not_known_exploited_at_the_same_exposure(
    a: Signals, b: Signals
) -> None:
    exploited = a.model_copy(update={"kev": True})
    other = b.model_copy(update={"kev": False, "exposure": a.exposure})
    assert score_finding(exploited).score > score_finding(other).score


@given(signals)
def test_more_epss_never_lowers_the_score(a: Signals) -> None:
    lower = a.model_copy(update={"epss": 0.1})
    higher = a.model_copy(update={"epss": 0.9})
    assert score_finding(higher).score > score_finding(lower).score
