"""`/regent base LANGUAGE [FRAMEWORK]`: the approved base to build on, why, and a Dockerfile to start from."""

from __future__ import annotations

from bot.slack.report import Report, Table
from tools.toolbox.bases import RecommendBaseImageArgs, recommend_base_image
from tools.toolbox.context import Call


def base_report(call: Call, argument: str) -> Report:
    """The recommendation as a report; a bad language is a validation error the caller reports."""
    words = argument.split()
    if not words:
        return Report(
            title="/regent base: which language?",
            lines=("Usage: /regent base LANGUAGE [FRAMEWORK], e.g. /regent base python fastapi",),
            error=True,
        )
    args = RecommendBaseImageArgs.model_validate(
        {"language": words[0].lower(), "framework": words[1] if len(words) > 1 else None}
    )
    result = recommend_base_image(call, args)
    rows = [
        (
            c.reference,
            str(c.critical + c.high) if c.scanned else "not scanned",
            str(c.age_days or "?"),
            c.size,
        )
        for c in result.alternatives
    ]
    tables = (
        (
            Table(
                headers=("also approved", "crit+high", "age (days)", "size"),
                rows=tuple(rows),
                title="Runners-up",
            ),
        )
        if rows
        else ()
    )
    what = f"{result.language} / {result.framework}" if result.framework else result.language
    return Report(
        title=f"Base for {what}: {result.recommended}",
        lines=(result.reason, f"Pinned: {result.pinned}"),
        tables=tables,
        notes=(result.note,) if result.note else (),
        code=result.dockerfile,
    )
