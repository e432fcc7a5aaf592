"""The fake Portainer's activity routes. **BE only**: CE has no `/api/useractivity` (a plain-text 404).

Follows BE-old (the public BE 2.4.1 branch; shared/reference/portainer-real.md, "auth / activity
logs"): `GET /api/useractivity/authlogs` is administrators only, answers `{logs, totalCount}` (the 2.44
spec documents a bare array, kept as an option), `after` and `before` are **inclusive** unix bounds,
`offset`/`limit` page (limit 50 when absent).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from tests.fakes.portainer_http import Request, Response, error, json_response

DEFAULT_LIMIT = 50


@dataclass
class FakeAuthLog:
    """A BE auth activity record: type 1 success, 2 failure, 3 logout; context 1 internal, 2 LDAP, 3 OAuth."""

    id: int
    timestamp: int
    username: str
    origin: str
    type: int = 1
    context: int = 1


class ActivityRoutes:
    """Mixed into FakePortainer."""

    auth_logs: list[FakeAuthLog]
    authlogs_shape: Literal["object", "array"]

    def _authlogs(self, req: Request) -> Response:
        assert req.user is not None
        if not req.user.is_admin:
            return error(403, "Access denied to resource", "Unauthorized")
        try:
            after, before = int(req.arg("after") or 0), int(req.arg("before") or 0)
            offset = int(req.arg("offset") or 0)
            limit = int(req.arg("limit") or DEFAULT_LIMIT)
        except ValueError:
            return error(400, "Invalid query parameter", "strconv.Atoi: parsing")
        # Inclusive at both ends: an entry at exactly `after` comes back again on the next poll.
        found = [e for e in self.auth_logs if (not after or e.timestamp >= after)]
        found = [e for e in found if not before or e.timestamp <= before]
        found.sort(key=lambda e: (e.timestamp, e.id), reverse=req.arg("sortDesc") == "true")
        page = found[offset : offset + limit]
        items = [
            {
                "id": e.id,
                "timestamp": e.timestamp,
                "username": e.username,
                "origin": e.origin,
                "context": e.context,
                "type": e.type,
            }
            for e in page
        ]
        body: Any = items if self.authlogs_shape == "array" else {"logs": items, "totalCount": len(found)}
        return json_response(200, body)
