"""Digest sections other features contribute, in one place for `regent serve` and `regent digest`.

Add a provider here (a callable DigestContext -> DigestSection | None, bound to its own store); it goes
between the policy drift and the pending proposals sections, and is left out whenever it returns None.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.digest.context import SectionProvider

if TYPE_CHECKING:
    from bot.app import App


def extra_providers(runtime: App) -> list[SectionProvider]:
    """Registry activity (bot/digest/sections_events.py), the vulnerabilities "fix first"
    (bot/digest/sections_vulns.py) and inventory freshness (bot/digest/sections_refresh.py)."""
    from bot.digest.sections_events import events_providers
    from bot.digest.sections_refresh import refresh_providers
    from bot.digest.sections_vulns import vulns_providers

    return [*vulns_providers(runtime), *events_providers(runtime), *refresh_providers(runtime)]
