"""Check GAR shapes against Google's discovery document (tests/fakes/specs/artifactregistry.v1.trimmed.json).

A discovery document's schemas are close to JSON Schema draft 3/4 but not the same; they are converted so
jsonschema's Draft 7 validator can check them:
- `"$ref": "Name"` (a schema id) becomes `{"$ref": "#/definitions/Name"}`, the schemas go to `definitions`;
- proto3 JSON writes 64-bit integers as strings: `type: string, format: int64|uint64` gets the pattern
  `^-?[0-9]+$`; `format: google-datetime` becomes `format: date-time` (RFC 3339, checked);
  `format: google-duration` gets proto3's duration pattern (`^-?[0-9]+(\\.[0-9]{1,9})?s$`);
- `enum` stays; `id`, `description`, `enumDescriptions`, `readOnly` are annotations and are dropped;
- objects with `properties` get `additionalProperties: false`: Google's JSON front end rejects unknown
  field names (400 "Invalid JSON payload received. Unknown name"), so an export must not invent any.

The v2 `tags/list` extension is not in the discovery document. Its envelope is checked against the shape
go-containerregistry reads (pkg/v1/google/list.go: `child`, `manifest`, `name`, `tags`; each entry's
`imageSizeBytes`, `layerId`, `mediaType`, `tag`, `timeCreatedMs`, `timeUploadedMs` as decimal strings),
and each entry is also projected onto the discovery document's `DockerImage` (the REST view of the same
image: `imageSizeBytes` an int64 string, `tags`, `mediaType`, `uploadTime`, `buildTime`) and checked there.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator, FormatChecker

SPEC_PATH = Path(__file__).parent / "specs" / "artifactregistry.v1.trimmed.json"
INT64 = r"^-?[0-9]+$"
DURATION = r"^-?[0-9]+(\.[0-9]{1,9})?s$"
_ANNOTATIONS = frozenset({"id", "description", "enumDescriptions", "readOnly", "deprecated"})

# go-containerregistry pkg/v1/google/list.go, as JSON Schema (numbers are decimal strings there).
TAG_LIST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["manifest", "name", "tags"],
    "additionalProperties": False,
    "properties": {
        "child": {"type": "array", "items": {"type": "string"}},
        "name": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "manifest": {
            "type": "object",
            "propertyNames": {"pattern": "^sha256:[0-9a-f]{64}$"},
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "required": ["imageSizeBytes", "mediaType", "tag", "timeCreatedMs", "timeUploadedMs"],
                "properties": {
                    "imageSizeBytes": {"type": "string", "pattern": INT64},
                    "layerId": {"type": "string"},
                    "mediaType": {"type": "string"},
                    "tag": {"type": "array", "items": {"type": "string"}},
                    "timeCreatedMs": {"type": "string", "pattern": INT64},
                    "timeUploadedMs": {"type": "string", "pattern": INT64},
                },
            },
        },
    },
}


@cache
def discovery() -> dict[str, Any]:
    """The trimmed discovery document, parsed."""
    document: dict[str, Any] = json.loads(SPEC_PATH.read_text())
    return document


def convert(schema: Any) -> Any:
    """One discovery schema (recursively) as JSON Schema; see the module docstring for the rules."""
    if isinstance(schema, list):
        return [convert(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _ANNOTATIONS:
            continue
        if key == "$ref":
            out["$ref"] = f"#/definitions/{value}"
        elif key == "format":
            if value in {"int64", "uint64"} and schema.get("type") == "string":
                out["pattern"] = INT64
            elif value == "google-datetime":
                out["format"] = "date-time"
            elif value == "google-duration":
                out["pattern"] = DURATION
        elif key in {"properties", "additionalProperties"} and isinstance(value, dict):
            out[key] = (
                {name: convert(sub) for name, sub in value.items()} if key == "properties" else convert(value)
            )
        else:
            out[key] = convert(value)
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


def schema_for(name: str) -> dict[str, Any]:
    """A named discovery schema as a JSON Schema, with every schema of the document as definitions."""
    definitions = {key: convert(value) for key, value in discovery()["schemas"].items()}
    return {"$ref": f"#/definitions/{name}", "definitions": definitions}


def errors_against(name: str, instance: Any) -> list[str]:
    """What is wrong with `instance` as the discovery schema `name` ([] when it conforms)."""
    validator = Draft7Validator(schema_for(name), format_checker=FormatChecker())
    return [
        f"{name}: {'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator.iter_errors(instance)
    ]


def tag_list_errors(body: Any, *, host: str = "us-docker.pkg.dev") -> list[str]:
    """A `tags/list` answer checked against the list.go shape and, entry by entry, as a DockerImage."""
    validator = Draft7Validator(TAG_LIST_SCHEMA)
    problems = [
        f"tags/list: {'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator.iter_errors(body)
    ]
    if problems:
        return problems
    for digest, entry in body["manifest"].items():
        image = {
            "name": f"projects/p/locations/us/repositories/r/dockerImages/{body['name']}@{digest}",
            "uri": f"{host}/{body['name']}@{digest}",
            "tags": entry["tag"],
            "imageSizeBytes": entry["imageSizeBytes"],
            "mediaType": entry["mediaType"],
            "uploadTime": _rfc3339(entry["timeUploadedMs"]),
            "buildTime": _rfc3339(entry["timeCreatedMs"]),
        }
        problems.extend(errors_against("DockerImage", image))
    return problems


def _rfc3339(millis: str) -> str:
    return datetime.fromtimestamp(int(millis) / 1000, tz=UTC).isoformat().replace("+00:00", "Z")
