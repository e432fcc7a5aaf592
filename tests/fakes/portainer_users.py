"""The fake Portainer's user administration: users, API keys (tokens), role changes, team memberships.

Shapes follow the spec: `GET /users/{id}/tokens` answers `portainer.APIKey` items, `PUT /users/{id}`
takes a `users.userUpdatePayload` (CE's handler applies only the fields sent, so `{"Role": 2}` alone is
a valid demotion), `DELETE /users/{id}/tokens/{keyID}` and `DELETE /team_memberships/{id}` answer 204.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from tests.fakes import portainer_records as rec
from tests.fakes.portainer_http import Request, Response, error, json_response
from tests.fakes.portainer_records import FakeMembership, FakeUser, new_api_key

_UPDATE_FIELDS = {"Username": str, "Password": str, "NewPassword": str, "Role": int, "UseCache": bool}
_USER_NOT_FOUND = "Unable to find a user with the specified identifier inside the database"


class UserRoutes:
    """Mixed into FakePortainer; API key ids are assigned the first time a key is listed or made."""

    users: list[FakeUser]
    memberships: list[FakeMembership]
    _lock: threading.Lock
    edition: str

    def _key_id(self, raw: str) -> int:
        ids: dict[str, int] = self.__dict__.setdefault("_api_key_ids", {})
        if raw not in ids:
            ids[raw] = len(ids) + 1
        return ids[raw]

    def add_api_key(self, user: FakeUser, *, description: str = "added later") -> str:
        """Create a new raw API key for `user` (as if they made one in the UI); returns it."""
        raw = new_api_key()
        with self._lock:
            user.api_keys = (*user.api_keys, raw)
            self.__dict__.setdefault("_api_key_notes", {})[raw] = description
            self._key_id(raw)
        return raw

    def api_key_json(self, user: FakeUser, raw: str) -> dict[str, Any]:
        """A `portainer.APIKey` (the digest is a stand-in, never the raw key)."""
        notes: dict[str, str] = self.__dict__.get("_api_key_notes", {})
        key_id = self._key_id(raw)
        return {
            "id": key_id,
            "userId": user.id,
            "description": notes.get(raw, f"key {key_id}"),
            "prefix": raw[:7],
            "dateCreated": 1_790_000_000 + key_id,
            "lastUsed": 0,
            "digest": f"digest-of-key-{key_id}",
        }

    def _find_user(self, user_id: str) -> FakeUser | None:
        return next((u for u in self.users if u.id == int(user_id)), None)

    def _users(self, req: Request) -> Response:
        assert req.user is not None
        found = [u for u in self.users if req.user.is_admin or u.id == req.user.id]
        return json_response(200, [rec.user_json(u, business=self.edition == "BE") for u in found])

    def _user(self, req: Request, user_id: str) -> Response:
        assert req.user is not None
        user = self._find_user(user_id)
        if user is None:
            return error(404, _USER_NOT_FOUND, "Object not found inside the database")
        if req.method == "GET":
            return json_response(200, rec.user_json(user, business=self.edition == "BE"))
        try:
            payload = json.loads(req.body or b"null")
        except ValueError:
            return error(400, "Invalid request payload", "invalid JSON")
        if not isinstance(payload, dict) or any(
            k not in _UPDATE_FIELDS or not isinstance(v, _UPDATE_FIELDS[k]) for k, v in payload.items()
        ):
            return error(400, "Invalid request payload", "unexpected field or type")
        role = payload.get("Role")
        if role is not None:
            if role not in (1, 2, 3):
                return error(400, "Invalid request payload", "Invalid role value")
            if not req.user.is_admin:
                return error(403, "Permission denied to update user to administrator role", "Forbidden")
            with self._lock:
                user.role = role
        return json_response(200, rec.user_json(user, business=self.edition == "BE"))

    def _tokens(self, req: Request, user_id: str) -> Response:
        assert req.user is not None
        user = self._find_user(user_id)
        if user is None:
            return error(404, _USER_NOT_FOUND, "Object not found inside the database")
        if not req.user.is_admin and req.user.id != user.id:
            return error(403, "Permission denied to get user access tokens", "Forbidden")
        return json_response(200, [self.api_key_json(user, raw) for raw in user.api_keys])

    def _delete_token(self, req: Request, user_id: str, key_id: str) -> Response:
        assert req.user is not None
        user = self._find_user(user_id)
        if user is None:
            return error(404, _USER_NOT_FOUND, "Object not found inside the database")
        if not req.user.is_admin and req.user.id != user.id:
            return error(403, "Permission denied to remove api-key", "Forbidden")
        with self._lock:
            raw = next((k for k in user.api_keys if self._key_id(k) == int(key_id)), None)
            if raw is None:
                return error(404, "Unable to find an api-key with the specified identifier", "Not found")
            user.api_keys = tuple(k for k in user.api_keys if k != raw)
        time.sleep(0)  # let a concurrent request in between, as a real server would
        return Response(204)

    def _delete_membership(self, req: Request, membership_id: str) -> Response:
        assert req.user is not None
        with self._lock:
            found = next((m for m in self.memberships if m.id == int(membership_id)), None)
            if found is None:
                return error(404, "Unable to find a team membership with the specified identifier", "")
            leads = any(
                m.user_id == req.user.id and m.team_id == found.team_id and m.role == rec.TEAM_LEADER
                for m in self.memberships
            )
            if not (req.user.is_admin or leads):
                return error(403, "Permission denied to delete the membership", "Unauthorized")
            self.memberships.remove(found)
        return Response(204)
