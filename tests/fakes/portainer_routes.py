"""The fake Portainer's route table: every path it serves and the real handler each one follows.

Sources are paths under `api/` of portainer/portainer (CE 2.23, develop at cc75167437c0), with lines
where shared/reference/portainer-real.md gives them. BE-only routes are served only in BE mode and
follow BE-old (the public BE 2.4.1 branch) or the EE 2.44 spec; current BE code is not public.
"""

from __future__ import annotations

# (methods: "GET", "GET,PUT" or "*" for any; path regex; public; the fake's handler; the real handler)
RouteSpec = tuple[str, str, bool, str, str]
SYSTEM_ROUTES_SINCE = (2, 17)  # /api/system/status and /version; older servers have only /api/status
_H = "http/handler/"
_ID = r"(\d+)"

ROUTES: tuple[RouteSpec, ...] = (
    ("POST", "/api/auth", True, "_login", _H + "auth/authenticate.go"),
    ("POST", "/api/auth/logout", True, "_logout", _H + "auth/logout.go"),
    # Before 2.17 the only status route; since then a deprecated alias of /api/system/status.
    ("GET", "/api/status", True, "_system_status", _H + "system/status.go:25-29"),
    ("GET", f"/api/users/{_ID}/memberships", False, "_user_memberships", _H + "users/user_memberships.go"),
    ("GET", "/api/users/me", False, "_me", _H + "users/user_inspect_me.go"),
    ("GET", "/api/users", False, "_users", _H + "users/user_list.go"),
    (
        "GET,PUT",
        f"/api/users/{_ID}",
        False,
        "_user",
        _H + "users/user_inspect.go, user_update.go:23-44,143-146",
    ),
    ("GET", f"/api/users/{_ID}/tokens", False, "_tokens", _H + "users/user_get_access_tokens.go:49-50"),
    (
        "DELETE",
        f"/api/users/{_ID}/tokens/{_ID}",
        False,
        "_delete_token",
        _H + "users/user_remove_access_token.go:47-76",
    ),
    ("GET", "/api/teams", False, "_teams", _H + "teams/team_list.go"),
    (
        "GET",
        "/api/team_memberships",
        False,
        "_team_memberships",
        _H + "teammemberships/teammembership_list.go",
    ),
    (
        "DELETE",
        f"/api/team_memberships/{_ID}",
        False,
        "_delete_membership",
        _H + "teammemberships/teammembership_delete.go",
    ),
    (
        "GET",
        "/api/registries",
        False,
        "_registries",
        _H + "registries/registry_list.go:30-39 (BE: EE 2.44 spec)",
    ),
    ("GET", f"/api/registries/{_ID}", False, "_registry", _H + "registries/registry_inspect.go:41-49"),
    ("GET", "/api/endpoints", False, "_endpoints", _H + "endpoints/endpoint_list.go:53-147"),
    ("GET", f"/api/endpoints/{_ID}", False, "_endpoint", _H + "endpoints/endpoint_inspect.go"),
    (
        "GET",
        f"/api/endpoints/{_ID}/registries",
        False,
        "_endpoint_registries",
        _H + "endpoints/endpoint_registries_list.go:53-96",
    ),
    ("*", f"/api/endpoints/{_ID}/docker(/.*)", False, "_docker", _H + "endpointproxy/handler.go:27-36"),
    (
        "*",
        f"/api/endpoints/{_ID}/kubernetes(/.*)",
        False,
        "_kubernetes",
        _H + "endpointproxy/handler.go:27-36",
    ),
    ("GET", "/api/stacks", False, "_stacks", _H + "stacks/stack_list.go:119-135"),
    ("GET", f"/api/stacks/{_ID}/file", False, "_stack_file", _H + "stacks/stack_file.go"),
)
SYSTEM_ROUTES: tuple[RouteSpec, ...] = (  # 2.17.0 and later
    ("GET", "/api/system/status", True, "_system_status", _H + "system/status.go:25-29"),
    ("GET", "/api/system/version", False, "_system_version", _H + "system/version.go:19-84"),
)
BE_ROUTES: tuple[RouteSpec, ...] = (  # CE answers these paths with a plain-text 404
    ("*", f"/api/registries/{_ID}/v2(/.*)?", False, "_registry_proxy", "BE only: BE-old registry proxy"),
    ("GET", "/api/useractivity/authlogs", False, "_authlogs", "BE only: BE-old useractivity authlogs"),
)
