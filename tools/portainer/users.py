"""Portainer's users, API keys and team memberships (what a suspension reads and changes).

A mixin of PortainerClient (tools/portainer/client.py), which does every HTTP request. What the CE 2.23
handlers allow (shared/reference/portainer-real.md):

- `GET /api/users`: administrators see everyone, team leaders the non-administrators, anyone else 403.
- `GET /api/users/{id}/tokens`: the user themselves, or an administrator reading a **non**-administrator's
  keys; an administrator's keys cannot be listed by another administrator (403) until they are demoted.
- `DELETE /api/users/{id}/tokens/{keyID}`: a key that no longer exists answers **500 "API Key not
  found"**, not 404, so only a new listing can tell "already gone" from a real failure.
- `PUT /api/users/{id}` with a role sets the user's `TokenIssueAt`: every JWT (session) they had open
  stops working. API keys are not JWTs and keep working, with the new role.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from tools.portainer.models import APIKey, Team, TeamMembership, User, parse_as

T = TypeVar("T")


class UserCalls:
    """User administration methods of PortainerClient."""

    if TYPE_CHECKING:  # implemented by PortainerClient

        def _get(
            self, shape: type[T], path: str, *, params: Mapping[str, Any] | None = None, auth: bool = True
        ) -> T: ...

        def _write(self, method: str, path: str, *, body: Any = None) -> Any: ...

        def _write_json(self, method: str, path: str, *, body: Any = None) -> Any: ...

    def current_user(self) -> User:
        """The user the credentials belong to (role 1 = administrator)."""
        return self._get(User, "/api/users/me")

    def users(self) -> list[User]:
        """Every user (administrators); team leaders get the non-administrators; others get a 403."""
        return self._get(list[User], "/api/users")

    def user(self, user_id: int) -> User:
        """One user by id (self, or any as an administrator); NotFound when it does not exist."""
        return self._get(User, f"/api/users/{user_id}")

    def api_keys(self, user_id: int) -> list[APIKey]:
        """A user's API keys, without their digests: self, or a non-administrator's as an administrator."""
        return self._get(list[APIKey], f"/api/users/{user_id}/tokens")

    def delete_api_key(self, user_id: int, key_id: int) -> None:
        """Revoke one API key (204). A missing key is an UpstreamError (500 "API Key not found"): re-list."""
        self._write("DELETE", f"/api/users/{user_id}/tokens/{key_id}")

    def user_memberships(self, user_id: int) -> list[TeamMembership]:
        """A user's team memberships (self or admin)."""
        return self._get(list[TeamMembership], f"/api/users/{user_id}/memberships")

    def teams(self) -> list[Team]:
        """Teams (id and name): all for administrators, their own for others."""
        return self._get(list[Team], "/api/teams")

    def delete_team_membership(self, membership_id: int) -> None:
        """Remove one membership (`DELETE /api/team_memberships/{id}`, 204); NotFound if already gone."""
        self._write("DELETE", f"/api/team_memberships/{membership_id}")

    def set_user_role(self, user_id: int, role: int) -> User:
        """`PUT /api/users/{id}` with only `{"Role": role}`: absent fields stay; the user's sessions end."""
        data = self._write_json("PUT", f"/api/users/{user_id}", body={"Role": role})
        return parse_as(User, data, f"/api/users/{user_id}")
