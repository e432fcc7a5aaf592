"""OpenAI strict function schemas generated from pydantic argument models (never written by hand).

Strict mode (`"strict": true`) accepts a subset of JSON Schema: every object lists all its properties in
`required` and sets `additionalProperties: false`, `$ref` may not carry sibling keywords, and keywords such
as `default`, `minLength`/`maxLength` or `uniqueItems` are rejected. So the pydantic schema is
post-processed: references are inlined, a field with a default becomes required-but-nullable (null means
"use the default", which the description states), and unsupported keywords are dropped. The pydantic
model still validates the real constraints, and its errors go back to the model to correct.
"""

from __future__ import annotations

import inspect
import json
from typing import Any

from pydantic import BaseModel

# Keywords strict mode accepts; anything else pydantic may emit is dropped (the model validates it anyway).
_KEEP = frozenset(
    {
        "type",
        "description",
        "enum",
        "const",
        "anyOf",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "pattern",
        "format",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "minItems",
        "maxItems",
    }
)
_FORMATS = frozenset({"date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6", "uuid"})
MAX_DESCRIPTION = 1024
_SCALARS = frozenset({"string", "integer", "number", "boolean"})


def tool_description(model: type[BaseModel]) -> str:
    """The tool description: the args model's docstring, whitespace-normalised."""
    text = inspect.cleandoc(model.__doc__ or "").strip()
    if not text:
        raise ValueError(f"{model.__name__} needs a docstring: it is the tool's description")
    if len(text) > MAX_DESCRIPTION:
        raise ValueError(f"{model.__name__}'s docstring is {len(text)} chars; tool descriptions stay < 1024")
    return " ".join(text.split())


def strict_parameters(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema in OpenAI strict form."""
    raw = model.model_json_schema(mode="validation")
    defs = raw.get("$defs", {})
    for name, field in model.model_fields.items():
        if not field.description:
            raise ValueError(f"{model.__name__}.{name} needs Field(description=...)")
    params = _strict(raw, defs)
    params.pop("description", None)  # the function description already carries the docstring
    return params


def function_tool(name: str, model: type[BaseModel]) -> dict[str, Any]:
    """A Chat Completions `tools` entry for this args model."""
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": tool_description(model),
            "parameters": strict_parameters(model),
            "strict": True,
        },
    }


def _strict(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref is not None:
        target = defs[ref.rsplit("/", 1)[-1]]
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _strict(merged, defs)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key not in _KEEP or (key == "format" and value not in _FORMATS):
            continue
        if key == "properties":
            out[key] = _properties(node, value, defs)
        elif key == "items":
            out[key] = _strict(value, defs)
        elif key == "anyOf":
            out[key] = [_strict(branch, defs) for branch in value]
        elif key == "description":
            out[key] = " ".join(str(value).split())
        else:
            out[key] = value
    if out.get("type") == "object" or "properties" in out:
        out["type"] = "object"
        out.setdefault("properties", {})
        out["required"] = list(out["properties"])
        out["additionalProperties"] = False
    return _collapse_nullable(out)


def _properties(node: dict[str, Any], props: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    required = set(node.get("required", ()))
    out: dict[str, Any] = {}
    for name, prop in props.items():
        schema = _strict(prop, defs)
        if name not in required:
            schema = _nullable(schema)
            default = prop.get("default")
            if default is not None:  # null-means-none is what a nullable field says already
                text = schema.get("description", "").rstrip(".")
                schema["description"] = (
                    f"{text}. Null: {json.dumps(default)}." if text else f"Null: {default}."
                )
        out[name] = schema
    return out


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    if _accepts_null(schema):
        return schema
    description = schema.pop("description", None)
    wrapped: dict[str, Any] = {"anyOf": [schema, {"type": "null"}]}
    if description:
        wrapped["description"] = description
    return _collapse_nullable(wrapped)


def _accepts_null(schema: dict[str, Any]) -> bool:
    kind = schema.get("type")
    if kind == "null" or (isinstance(kind, list) and "null" in kind):
        return True
    return any(_accepts_null(branch) for branch in schema.get("anyOf", ()))


def _collapse_nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """`anyOf: [{type: T, ...}, {type: null}]` → `type: [T, null], ...` for a scalar T without an enum
    (shorter: every token of a schema is sent with every request)."""
    branches = schema.get("anyOf")
    if not branches or len(branches) != 2 or {"type": "null"} not in branches:
        return schema
    (other,) = [b for b in branches if b != {"type": "null"}]
    kind = other.get("type")
    if kind not in _SCALARS or "enum" in other or "const" in other:
        return schema
    collapsed = {k: v for k, v in schema.items() if k != "anyOf"}
    collapsed.update({k: v for k, v in other.items() if k != "description"})
    collapsed["type"] = [kind, "null"]
    return collapsed


def prepare_arguments(model: type[BaseModel], arguments: dict[str, Any]) -> dict[str, Any]:
    """Drop nulls the strict schema uses to mean "default", so pydantic applies the real default."""
    fields = model.model_fields
    return {
        key: value
        for key, value in arguments.items()
        if not (value is None and key in fields and not fields[key].is_required())
    }
