"""Check the fake ACR's native answers against the published data-plane spec (Swagger 2.0) with jsonschema.

openapi-core reads OpenAPI 3 only, so the response schema of each answer is looked up by operationId and
status (falling back to `default`) in tests/fakes/specs/acr-containerregistry-2021-07-01.trimmed.json and
validated as JSON Schema draft 4 (Swagger 2.0's schema dialect) with the spec's `definitions` alongside, so
`#/definitions/...` references resolve; `date-time` formats are checked (rfc3339-validator).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator, FormatChecker

SPEC_PATH = Path(__file__).parent / "specs" / "acr-containerregistry-2021-07-01.trimmed.json"


@cache
def acr_spec() -> dict[str, Any]:
    """The trimmed spec, parsed."""
    spec: dict[str, Any] = json.loads(SPEC_PATH.read_text())
    return spec


def response_schema(operation_id: str, status: int) -> dict[str, Any] | None:
    """The schema the spec gives this operation's answer with this status; None when it has no body."""
    spec = acr_spec()
    for methods in spec["paths"].values():
        for operation in methods.values():
            if operation.get("operationId") != operation_id:
                continue
            responses = operation["responses"]
            response = responses.get(str(status)) or responses.get("default")
            if response is None:
                raise AssertionError(f"{operation_id} has no {status} or default response in the spec")
            schema = response.get("schema")
            return None if schema is None else {**schema, "definitions": spec["definitions"]}
    raise AssertionError(f"operation {operation_id} is not in the trimmed spec")


def spec_errors(operation_id: str, status: int, body: Any) -> list[str]:
    """What is wrong with one answer by the spec ([] when it conforms)."""
    schema = response_schema(operation_id, status)
    if schema is None:
        return [] if body is None else [f"{operation_id} {status}: the spec has no body here"]
    validator = Draft4Validator(schema, format_checker=FormatChecker())
    return [
        f"{operation_id} {status}: {'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator.iter_errors(body)
    ]
