"""The fake Portainer's own small handlers: system status and version, the caller, teams, envs, stacks.

Each follows the CE 2.23 handler named in the route table (tests/fakes/portainer_routes.py).
"""

from __future__ import annotations

import json
from typing import Any

from tests.fakes import portainer_records as rec
from tests.fakes.portainer_endpoint_json import endpoint_json
from tests.fakes.portainer_http import Request, Response, error, json_response
from tests.fakes.portainer_records import FakeEnvironment, FakeMembership, FakeStack, FakeTeam, FakeUser

NOT_FOUND_DB = "Object not found inside the database"
DOCKER_COMPOSE_STACK, DOCKER_SWARM_STACK = 2, 1


class CoreRoutes:
    """Mixed into FakePortainer."""

    version: str
    instance_id: str
    edition: str
    server_env: list[str]
    users: list[FakeUser]
    teams: list[FakeTeam]
    memberships: list[FakeMembership]
    environments: list[FakeEnvironment]
    stacks: list[FakeStack]

    @property
    def _be(self) -> bool:
        return self.edition == "BE"

    # --- Portainer handlers ----------------------------------------------------------------------------

    def _system_status(self, _req: Request) -> Response:
        return json_response(200, {"Version": self.version, "InstanceID": self.instance_id})

    def _system_version(self, req: Request) -> Response:
        env = self.server_env if req.user and req.user.is_admin else []
        build: dict[str, Any] = {
            "BuildNumber": "42",
            "ImageTag": self.version,
            "NodejsVersion": "22",
            "PnpmVersion": "9",
        }
        build |= {"WebpackVersion": "5", "GoVersion": "go1.24", "GitCommit": "abc1234", "Env": env}
        return json_response(
            200,
            {
                "ServerVersion": self.version,
                "ServerEdition": "EE" if self._be else "CE",
                "DatabaseVersion": self.version,
                "UpdateAvailable": False,
                "LatestVersion": "",
                "VersionSupport": "STS",
                "Build": build,
                "Dependencies": {"ComposeVersion": "2.29", "DockerVersion": "27.3", "HelmVersion": "3.16"},
                "Runtime": {"Env": env},  # EE 2.44 spec: system.versionResponse.Runtime
            },
        )

    def _logout(self, _req: Request) -> Response:
        return Response(204)

    def _me(self, req: Request) -> Response:
        assert req.user is not None
        return json_response(200, rec.user_json(req.user, business=self._be))

    def _team_ids(self, user: FakeUser) -> set[int]:
        return {m.team_id for m in self.memberships if m.user_id == user.id}

    def _user_memberships(self, req: Request, user_id: str) -> Response:
        """Self or admin."""
        assert req.user is not None
        if not req.user.is_admin and req.user.id != int(user_id):
            return error(403, "Permission denied to retrieve user memberships", "Unauthorized")
        found = [rec.membership_json(m) for m in self.memberships if m.user_id == int(user_id)]
        return json_response(200, found)

    def _teams(self, req: Request) -> Response:
        """Admins see every team; others only their own."""
        assert req.user is not None
        mine = self._team_ids(req.user)
        teams = [t for t in self.teams if req.user.is_admin or t.id in mine]
        return json_response(200, [{"Id": t.id, "Name": t.name} for t in teams])

    def _team_memberships(self, req: Request) -> Response:
        """Team leaders and admins."""
        assert req.user is not None
        leads = any(m.user_id == req.user.id and m.role == rec.TEAM_LEADER for m in self.memberships)
        if not (req.user.is_admin or leads):
            return error(403, "Permission denied to list team memberships", "Unauthorized")
        return json_response(200, [rec.membership_json(m) for m in self.memberships])

    def _may_use(self, user: FakeUser, env: FakeEnvironment) -> bool:
        return user.is_admin or user.id in env.user_ids or bool(self._team_ids(user) & env.team_ids)

    def _endpoints(self, req: Request) -> Response:
        """1-based `start`, `limit=0` for all, `types[]` and `status[]` (bare names are ignored), counts."""
        assert req.user is not None
        visible = [e for e in self.environments if self._may_use(req.user, e)]
        found = visible
        if types := req.query.get("types[]"):
            found = [e for e in found if str(e.type) in types]
        if statuses := req.query.get("status[]"):
            found = [e for e in found if str(e.status) in statuses]
        if search := (req.arg("search") or "").lower():
            found = [e for e in found if search in e.name.lower()]
        if name := req.arg("name"):
            found = [e for e in found if e.name == name]
        try:
            start, limit = int(req.arg("start") or 0), int(req.arg("limit") or 0)
        except ValueError:
            return error(400, "Invalid query parameter: start/limit", "strconv.Atoi: parsing")
        offset = max(start - 1, 0)  # 1-based; start=0 and start=1 both mean the first item
        page = found[offset : offset + limit] if limit else found[offset:]
        snapshots = req.arg("excludeSnapshots") != "true"
        body = [endpoint_json(e, snapshots=snapshots, admin=req.user.is_admin) for e in page]
        counts = {"X-Total-Count": str(len(found)), "X-Total-Available": str(len(visible))}
        return json_response(200, body, counts)

    def _find_env(self, req: Request, env_id: str) -> FakeEnvironment | Response:
        assert req.user is not None
        env = next((e for e in self.environments if e.id == int(env_id)), None)
        if env is None:
            msg = "Unable to find an environment with the specified identifier inside the database"
            return error(404, msg, NOT_FOUND_DB)
        if not self._may_use(req.user, env):
            return error(403, "Permission denied to access environment", "Unauthorized")
        return env

    def _endpoint(self, req: Request, env_id: str) -> Response:
        env = self._find_env(req, env_id)
        if isinstance(env, Response):
            return env
        assert req.user is not None
        snapshots = req.arg("excludeSnapshot") != "true"  # singular on inspect
        return json_response(200, endpoint_json(env, snapshots=snapshots, admin=req.user.is_admin))

    def _stacks(self, req: Request) -> Response:
        """stack_list.go:119-135: with a filter, only Compose stacks of `EndpointID` and Swarm stacks of
        `SwarmID`; Kubernetes stacks never match. Non-admins see the stacks of environments they may use
        (the fake's stand-in for FilterAuthorizedStacks' resource controls)."""
        assert req.user is not None
        try:
            filters = json.loads(req.arg("filters") or "{}")
            endpoint_id, swarm_id = int(filters.get("EndpointID") or 0), str(filters.get("SwarmID") or "")
        except (ValueError, TypeError, AttributeError):
            return error(400, "Invalid query parameter: filters", "invalid JSON")
        found = list(self.stacks)
        if endpoint_id or swarm_id:
            found = [
                s
                for s in found
                if (s.type == DOCKER_COMPOSE_STACK and s.endpoint_id == endpoint_id)
                or (s.type == DOCKER_SWARM_STACK and s.swarm_id == swarm_id)
            ]
        allowed = {e.id for e in self.environments if self._may_use(req.user, e)}
        found = [s for s in found if req.user.is_admin or s.endpoint_id in allowed]
        return json_response(200, [rec.stack_json(s) for s in found])

    def _stack_file(self, req: Request, stack_id: str) -> Response:
        stack = next((s for s in self.stacks if s.id == int(stack_id)), None)
        if stack is None:
            return error(
                404, "Unable to find a stack with the specified identifier inside the database", NOT_FOUND_DB
            )
        return json_response(200, {"StackFileContent": stack.content})
