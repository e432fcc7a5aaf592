"""The fake Portainer's authentication: API keys, JWT login (rate-limited), the session cookie and CSRF.

Follows http/security/bouncer.go (CE 2.23): `X-API-KEY` (any case, or the query parameter) is tried
first, then `Authorization: Bearer <JWT>` (:20,213-222,446-468,506-523); no credential is 401 "A valid
authorization token is missing" and a bad one 401 "Invalid JWT token" (:300-323); both at once is 403
(:602-621). A JWT issued before the user's `TokenIssueAt` is refused (user_update.go:143-146). Login:
http/handler/auth/authenticate.go (wrong credentials 422); the ban after too many logins:
http/security/rate_limiter.go:30-38 (403 "Access denied").
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections import deque

import jwt

from tests.fakes.portainer_http import Request, Response, error, json_response
from tests.fakes.portainer_records import FakeUser


class AuthRoutes:
    """Mixed into FakePortainer."""

    users: list[FakeUser]
    _lock: threading.Lock
    _jwt_secret: bytes
    _jwt_generation: int
    _login_times: deque[float]
    _banned: bool

    def _authenticate(self, req: Request) -> Response | None:
        """Set req.user from X-API-Key, the cookie, or a Bearer JWT; otherwise answer like Portainer."""
        key = req.headers.get("x-api-key") or next(
            (v[0] for k, v in req.query.items() if k.lower() == "x-api-key"), None
        )
        bearer = req.headers.get("authorization", "")
        cookie = re.search(r"(?:^|;\s*)portainer_api_key=([^;]+)", req.headers.get("cookie", ""))
        if key and bearer:
            return error(403, "api key and auth header are not allowed at the same time", "Forbidden")
        if key:
            req.user = next((u for u in self.users if key in u.api_keys), None)
        elif cookie or bearer:
            if cookie and req.method not in ("GET", "HEAD", "OPTIONS") and "x-csrf-token" not in req.headers:
                return Response(403, b"Forbidden - CSRF token invalid\n", {"Content-Type": "text/plain"})
            token = cookie.group(1) if cookie else bearer.removeprefix("Bearer ").strip()
            req.user = self._user_from_jwt(token)
        else:
            return error(401, "A valid authorization token is missing", "Unauthorized")
        return None if req.user else error(401, "Invalid JWT token", "Unauthorized")

    def _user_from_jwt(self, token: str) -> FakeUser | None:
        try:
            claims = jwt.decode(token, self._jwt_secret, algorithms=["HS256"])
        except jwt.PyJWTError:
            return None
        if claims.get("gen") != self._jwt_generation:
            return None
        user = next((u for u in self.users if u.id == claims.get("id")), None)
        if user is None or float(claims.get("issued", 0)) < user.sessions_after:
            return None  # the user was removed, or changed role or password after this login
        return user

    def _login(self, req: Request) -> Response:
        now = time.monotonic()
        with self._lock:
            self._login_times.append(now)
            if len(self._login_times) > 10 and now - self._login_times[0] < 1.0:
                self._banned = True  # real Portainer bans the IP for an hour
        if self._banned:
            return error(403, "Access denied", "Too many requests")
        try:
            payload = {k.lower(): v for k, v in json.loads(req.body or b"{}").items()}
        except (ValueError, AttributeError):
            return error(400, "Invalid request payload", "invalid JSON")
        user = next((u for u in self.users if u.username == payload.get("username")), None)
        if user is None or payload.get("password") != user.password:
            return error(422, "Invalid credentials", "Unauthorized")
        claims = {
            "id": user.id,
            "username": user.username,
            "role": user.role,
            "scope": "default",
            "forceChangePassword": False,
            "exp": int(time.time()) + 8 * 3600,
            "jti": str(uuid.uuid4()),
            "gen": self._jwt_generation,
            "issued": time.time(),  # unrounded `iat`, compared with the user's TokenIssueAt
        }
        token = jwt.encode(claims, self._jwt_secret, algorithm="HS256")
        cookie = f"portainer_api_key={token}; Path=/; HttpOnly; SameSite=Strict"
        return json_response(200, {"jwt": token}, {"Set-Cookie": cookie})
