"""Check what a vendor fake answered against the vendor's published spec, with openapi-core.

A fake records every native REST exchange it answers; a test validates them all after the run, so a fake
that drifts from the vendor fails its own tests. Swagger 2.0 documents (GitLab's openapi_v2.yaml) are
converted to OpenAPI 3.0 first, mechanically (definitions, body parameters, response schemas), because
openapi-core reads OpenAPI 3 only; the stored trimmed copy stays as the vendor published it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse

from tests.fakes.portainer_http import Request, Response

_PARAMETER_SCHEMA_KEYS = ("type", "format", "enum", "default", "items", "minimum", "maximum")


@dataclass(frozen=True)
class Exchange:
    """One native REST request a fake answered, and its answer."""

    method: str
    path: str
    query: str
    status: int
    headers: dict[str, str]
    body: bytes

    @classmethod
    def of(cls, request: Request, response: Response) -> Exchange:
        """The exchange a fake just answered."""
        return cls(
            request.method, request.path, request.raw_query, response.status, response.headers, response.body
        )


def validate_exchanges(openapi: OpenAPI, server: str, exchanges: Iterable[Exchange]) -> int:
    """Validate every exchange's request and response; the number checked (raises on the first bad one)."""
    count = 0
    for exchange in exchanges:
        args = dict(parse_qsl(exchange.query, keep_blank_values=True))
        request = MockRequest(server, exchange.method.lower(), exchange.path, args=args)
        content_type = next(
            (v for k, v in exchange.headers.items() if k.lower() == "content-type"), "application/json"
        )
        response = MockResponse(
            exchange.body, status_code=exchange.status, headers=exchange.headers, content_type=content_type
        )
        openapi.validate_response(request, response)
        count += 1
    return count


def swagger2_to_openapi3(document: dict[str, Any]) -> dict[str, Any]:
    """An OpenAPI 3.0 document with the same paths and schemas as a Swagger 2.0 one."""
    text = json.dumps(document.get("definitions", {})).replace("#/definitions/", "#/components/schemas/")
    paths: dict[str, Any] = {}
    for path, item in document.get("paths", {}).items():
        paths[path] = {method: _operation(operation) for method, operation in item.items()}
    host = document.get("host", "localhost")
    return {
        "openapi": "3.0.3",
        "info": document.get("info", {"title": "converted", "version": "0"}),
        "servers": [{"url": f"https://{host}{document.get('basePath', '')}"}],
        "paths": paths,
        "components": {"schemas": json.loads(text)},
    }


def _operation(operation: dict[str, Any]) -> dict[str, Any]:
    converted: dict[str, Any] = {"responses": {}}
    parameters = []
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "body":
            converted["requestBody"] = {
                "required": bool(parameter.get("required")),
                "content": {"application/json": {"schema": _ref(parameter["schema"])}},
            }
            continue
        schema = {k: parameter[k] for k in _PARAMETER_SCHEMA_KEYS if k in parameter}
        parameters.append(
            {
                "name": parameter["name"],
                "in": parameter["in"],
                "required": bool(parameter.get("required")),
                "schema": schema,
            }
        )
    if parameters:
        converted["parameters"] = parameters
    for status, response in operation.get("responses", {}).items():
        answer: dict[str, Any] = {"description": response.get("description", "")}
        if "schema" in response:
            answer["content"] = {"application/json": {"schema": _ref(response["schema"])}}
        converted["responses"][str(status)] = answer
    return converted


def _ref(schema: dict[str, Any]) -> dict[str, Any]:
    converted: dict[str, Any] = json.loads(
        json.dumps(schema).replace("#/definitions/", "#/components/schemas/")
    )
    return converted
