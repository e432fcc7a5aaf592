"""Compliance evidence: signing, lifecycle-policy adherence, access, change history, vulnerability posture."""
