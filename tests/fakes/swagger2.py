"""Check a fake's traffic against a vendor's Swagger 2.0 spec with jsonschema (openapi-core reads only 3.x).

Every request a fake answers is matched to a path template and method of the spec; its query parameters
must be ones the operation declares, its JSON body must fit the body parameter's schema, the status must be
one the operation declares, and the JSON answer must fit that response's schema. Object definitions are
checked strictly (no property the spec does not define), so a fake cannot invent fields the vendor does not
send. Problems are collected, not raised: a test asserts there are none.
"""

from __future__ import annotations

import copy
import re
import threading
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import yaml
from jsonschema import Draft4Validator, FormatChecker

SPECS = Path(__file__).parent / "specs"
_FORMATS = FormatChecker()


def _is_datetime(value: object) -> bool:
    return not isinstance(value, str) or bool(datetime.fromisoformat(value.replace("Z", "+00:00")))


_FORMATS.checks("date-time", raises=ValueError)(_is_datetime)


def _strict(node: Any) -> Any:
    """Every object schema with `properties` gets `additionalProperties: false` unless it says otherwise.

    `additionalProperties: {type: object}` is read as go-swagger generates it, `map[string]interface{}`
    (any JSON value): Harbor's RetentionRule.params is declared so and takes numbers (`latestPushedK: 10`).
    """
    if isinstance(node, dict):
        out = {k: _strict(v) for k, v in node.items()}
        if out.get("additionalProperties") == {"type": "object"}:
            out["additionalProperties"] = {}
        if "properties" in out and "additionalProperties" not in out and "$ref" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [_strict(v) for v in node]
    return node


class SwaggerCheck:
    """One spec file; `check(...)` records what does not fit it."""

    def __init__(self, filename: str) -> None:
        self.spec: dict[str, Any] = yaml.safe_load((SPECS / filename).read_text())
        self.base_path: str = self.spec.get("basePath", "")
        self._definitions = _strict(self.spec.get("definitions", {}))
        self._routes = [
            (re.compile("^" + re.sub(r"\{[^/}]+\}", "[^/]+", template) + "$"), template)
            for template in self.spec["paths"]
        ]
        self.problems: list[str] = []
        self.checked = 0
        self._lock = threading.Lock()

    def operation(self, method: str, path: str) -> tuple[str, dict[str, Any]] | None:
        """The spec's path template and operation for a request path (with the base path), if any."""
        if not path.startswith(self.base_path):
            return None
        tail = path[len(self.base_path) :]
        for pattern, template in self._routes:
            if pattern.match(tail):
                found = self.spec["paths"][template].get(method.lower())
                if found is not None:
                    return template, found
        return None

    def validate(self, schema: dict[str, Any], value: Any) -> list[str]:
        """jsonschema errors of `value` against a spec schema, $refs resolved in the spec's definitions."""
        whole = {**_strict(schema), "definitions": self._definitions}
        validator = Draft4Validator(whole, format_checker=_FORMATS)
        return [
            f"{'/'.join(map(str, e.absolute_path)) or '.'}: {e.message}" for e in validator.iter_errors(value)
        ]

    def check(self, method: str, path: str, raw_query: str, body: Any, status: int, answer: Any) -> None:
        """Record every way this exchange departs from the spec."""
        problems: list[str] = []
        found = self.operation(method, path)
        where = f"{method} {path}"
        if found is None:
            problems.append(f"{where}: no such operation in the spec")
        else:
            template, operation = found
            parameters = [self._parameter(p) for p in operation.get("parameters", [])]
            declared = {p["name"] for p in parameters if p.get("in") == "query"}
            for name in parse_qs(raw_query, keep_blank_values=True):
                if name not in declared:
                    problems.append(f"{where}: query parameter {name!r} is not declared for {template}")
            for parameter in parameters:
                if parameter.get("in") == "body":
                    if body is None and parameter.get("required"):
                        problems.append(f"{where}: the required body is missing")
                    elif body is not None:
                        problems += [f"{where} request {e}" for e in self.validate(parameter["schema"], body)]
            responses = operation.get("responses", {})
            response = responses.get(str(status)) or responses.get("default")
            if response is None:
                problems.append(f"{where}: status {status} is not declared for {template}")
            else:
                response = self._response(response)
                schema = response.get("schema")
                if schema is not None:
                    problems += [f"{where} {status} {e}" for e in self.validate(schema, answer)]
                elif answer not in (None, b"", ""):
                    problems.append(f"{where}: status {status} declares no body but one was sent")
        with self._lock:
            self.checked += 1
            self.problems.extend(problems)

    def _parameter(self, parameter: dict[str, Any]) -> dict[str, Any]:
        ref = parameter.get("$ref")
        found: dict[str, Any] = self.spec["parameters"][ref.rpartition("/")[2]] if ref else parameter
        return found

    def _response(self, response: dict[str, Any]) -> dict[str, Any]:
        ref = response.get("$ref")
        found: dict[str, Any] = copy.deepcopy(
            self.spec["responses"][ref.rpartition("/")[2]] if ref else response
        )
        return found
