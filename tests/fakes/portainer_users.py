"""The fake Portainer's user administration: users, API keys (tokens), role changes, team memberships.

Each handler follows the CE 2.23 handler named in its docstring (paths under `api/` of
portainer/portainer, as summarised in shared/reference/portainer-real.md):

- `GET /users`: administrators see everyone; a team leader sees the non-administrators as
  `{Id, Username, Role}`; any other user gets 403 (http/handler/users/user_list.go).
- `GET /users/{id}`: self or administrator; another user's record is 403 (user_inspect.go).
- `PUT /users/{id}`: absent fields stay unchanged; Role 0 (unchanged), 1 or 2, anything else 400; only
  an administrator may change a role; a role or password change sets `TokenIssueAt`, which refuses the
  user's older JWTs (user_update.go:23-44,143-146).
- `GET /users/{id}/tokens`: self, or an administrator reading a non-administrator's keys; an
  administrator asking for another administrator's keys gets 403 (user_get_access_tokens.go:49-50).
- `DELETE /users/{id}/tokens/{keyID}`: self or administrator; a key of another user is 403; a key that
  does not exist is **500 "API Key not found"**, not 404 (user_remove_access_token.go:47-76).
- `/team_memberships`: team leaders and administrators; DELETE answers 204 (http/handler/teammemberships).
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
_NOT_FOUND_DB = "Object not found inside the database"


class UserRoutes:
    """Mixed into FakePortainer; API key ids follow creation order (keys given at start first)."""

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

    def _leads_a_team(self, user: FakeUser) -> bool:
        return any(m.user_id == user.id and m.role == rec.TEAM_LEADER for m in self.memberships)

    def _users(self, req: Request) -> Response:
        """user_list.go: admins see all; team leaders see non-admins, reduced; others 403."""
        assert req.user is not None
        business = self.edition == "BE"
        if req.user.is_admin:
            return json_response(200, [rec.user_json(u, business=business) for u in self.users])
        if not self._leads_a_team(req.user):
            return error(403, "Permission denied to access users", "Access denied to resource")
        brief = [{"Id": u.id, "Username": u.username, "Role": u.role} for u in self.users if not u.is_admin]
        return json_response(200, brief)

    def _user(self, req: Request, user_id: str) -> Response:
        """user_inspect.go (GET) and user_update.go (PUT)."""
        assert req.user is not None
        if not req.user.is_admin and req.user.id != int(user_id):
            what = "inspect" if req.method == "GET" else "update"
            return error(403, f"Permission denied to {what} user", "Unauthorized")
        user = self._find_user(user_id)
        if req.method == "GET":
            if user is None:
                return error(404, _USER_NOT_FOUND, _NOT_FOUND_DB)
            return json_response(200, rec.user_json(user, business=self.edition == "BE"))
        return self._update_user(req, user)

    def _update_user(self, req: Request, user: FakeUser | None) -> Response:
        assert req.user is not None
        try:
            payload = json.loads(req.body or b"null")
        except ValueError:
            return error(400, "Invalid request payload", "invalid JSON")
        if not isinstance(payload, dict) or any(
            k not in _UPDATE_FIELDS or not isinstance(v, _UPDATE_FIELDS[k]) for k, v in payload.items()
        ):
            return error(400, "Invalid request payload", "unexpected field or type")
        role = payload.get("Role", 0)
        if role not in (0, 1, 2):  # user_update.go:23-44: 3 (edge admin) is refused on CE
            return error(400, "Invalid request payload", "Invalid role value")
        if role and not req.user.is_admin:
            return error(403, "Permission denied to update user to administrator role", "Forbidden")
        if user is None:
            return error(404, _USER_NOT_FOUND, _NOT_FOUND_DB)
        with self._lock:
            if (role and role != user.role) or payload.get("Password"):
                user.expire_sessions()  # user_update.go:143-146: older JWTs of this user stop working
            if role:
                user.role = role
        return json_response(200, rec.user_json(user, business=self.edition == "BE"))

    def _tokens(self, req: Request, user_id: str) -> Response:
        """user_get_access_tokens.go:49-50: self, or an admin reading a non-admin's keys."""
        assert req.user is not None
        user = self._find_user(user_id)
        own = req.user.id == int(user_id)
        if not own and not (req.user.is_admin and (user is None or not user.is_admin)):
            return error(403, "Permission denied to get user access tokens", "Unauthorized")
        if user is None:
            return error(404, _USER_NOT_FOUND, _NOT_FOUND_DB)
        return json_response(200, [self.api_key_json(user, raw) for raw in user.api_keys])

    def _delete_token(self, req: Request, user_id: str, key_id: str) -> Response:
        """user_remove_access_token.go:47-76: a missing key is a 500, another user's key a 403."""
        assert req.user is not None
        if not req.user.is_admin and req.user.id != int(user_id):
            return error(403, "Permission denied to get user access tokens", "Unauthorized")
        user = self._find_user(user_id)
        if user is None:
            return error(404, _USER_NOT_FOUND, _NOT_FOUND_DB)
        with self._lock:
            owner = next((u for u in self.users for k in u.api_keys if self._key_id(k) == int(key_id)), None)
            if owner is None:
                return error(500, "API Key not found", "Unable to retrieve api-key")
            if owner.id != user.id:
                return error(403, "Permission denied to remove api-key", "Unauthorized")
            owner.api_keys = tuple(k for k in owner.api_keys if self._key_id(k) != int(key_id))
        time.sleep(0)  # let a concurrent request in between, as a real server would
        return Response(204)

    def _delete_membership(self, req: Request, membership_id: str) -> Response:
        """http/handler/teammemberships/teammembership_delete.go: admin or leader of that team; 204."""
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
