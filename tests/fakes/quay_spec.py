"""Check the fake Quay's traffic: requests with openapi-core against Quay's published description, bodies
with jsonschema against the schema written from Quay's code (specs/quay-bodies.schema.json.source says why).

Quay's description (specs/quay-api-subset.yaml) declares parameters, statuses and the ApiError body, but its
200 answers have no schema ("content: {}"), so openapi-core cannot check them: the bodies of 200 answers are
checked against `quay-bodies.schema.json`, error bodies against the description's own ApiError.
The `{repository}` parameter is a full path with a slash (`namespace/name`, Quay's `apirepopath`); it is
handed to openapi-core percent-encoded, as one path segment, which Quay accepts too.
"""

from __future__ import annotations

import json
import re
import threading
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

import yaml
from jsonschema import Draft4Validator, Draft202012Validator
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest

SPECS = Path(__file__).parent / "specs"
_REPO_PATH = re.compile(r"^(/api/v1/repository/)([^/]+/[^/]+)(/tag/.*)$")
BODY_SCHEMAS = {
    ("GET", "/api/v1/repository"): "RepositoryList",
    ("GET", "/api/v1/repository/{repository}/tag/"): "TagList",
}


class QuayCheck:
    """Collects every way the fake's exchanges depart from what Quay documents."""

    def __init__(self) -> None:
        self.spec: dict[str, Any] = yaml.safe_load((SPECS / "quay-api-subset.yaml").read_text())
        self.openapi = OpenAPI.from_dict(self.spec)
        self.bodies: dict[str, Any] = json.loads((SPECS / "quay-bodies.schema.json").read_text())
        self.problems: list[str] = []
        self.checked = 0
        self._lock = threading.Lock()

    def template(self, method: str, path: str) -> str | None:
        """The description's path template for a request path, if it has the operation."""
        if path == "/api/v1/repository":
            found = "/api/v1/repository"
        elif (match := _REPO_PATH.match(path)) is not None:
            found = "/api/v1/repository/{repository}/tag/" + ("{tag}" if match.group(3) != "/tag/" else "")
        else:
            return None
        return found if method.lower() in self.spec["paths"][found] else None

    def check(self, method: str, path: str, raw_query: str, status: int, answer: Any) -> None:
        """Record the problems of one exchange (an empty list when it fits)."""
        problems: list[str] = []
        where = f"{method} {path}"
        template = self.template(method, path)
        if template is None:
            problems.append(f"{where}: no such operation in Quay's description")
        else:
            operation = self.spec["paths"][template][method.lower()]
            problems += self._request(method, path, raw_query, operation)
            response = operation["responses"].get(str(status))
            if response is None:
                problems.append(f"{where}: status {status} is not declared")
            elif status >= 400:
                schema = {**self.spec["components"]["schemas"]["ApiError"]}
                problems += [
                    f"{where} {status}: {e.message}" for e in Draft4Validator(schema).iter_errors(answer)
                ]
            elif (method, template) in BODY_SCHEMAS:
                name = BODY_SCHEMAS[(method, template)]
                schema = {"$ref": f"#/$defs/{name}", "$defs": self.bodies["$defs"]}
                errors = Draft202012Validator(schema).iter_errors(answer)
                problems += [
                    f"{where} {status}: {'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors
                ]
            elif answer is not None:
                problems.append(f"{where}: status {status} sent a body")
        with self._lock:
            self.checked += 1
            self.problems.extend(problems)

    def _request(self, method: str, path: str, raw_query: str, operation: dict[str, Any]) -> list[str]:
        args = {k: v[0] for k, v in parse_qs(raw_query, keep_blank_values=True).items()}
        declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
        problems = [
            f"{method} {path}: query parameter {n!r} is not declared" for n in args if n not in declared
        ]
        match = _REPO_PATH.match(path)
        encoded = f"{match.group(1)}{quote(match.group(2), safe='')}{match.group(3)}" if match else path
        request = MockRequest("https://quay.io", method.lower(), encoded, args=args)
        try:
            with warnings.catch_warnings():  # openapi-core cannot check OAuth2 schemes and says so each time
                warnings.simplefilter("ignore", UserWarning)
                self.openapi.validate_request(request)
        except Exception as exc:  # openapi-core raises its own tree; any of it is a finding here
            problems.append(f"{method} {path}: {type(exc).__name__}: {exc}")
        return problems
