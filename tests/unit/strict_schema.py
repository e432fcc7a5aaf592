"""A checker of OpenAI's strict-mode rules for function schemas, written from their Structured Outputs docs.

Independent of tools/toolbox/schema.py on purpose (a generator and its own checker would share bugs).
Rules (platform.openai.com/docs/guides/structured-outputs, "Supported schemas"):
- the root is an object, not anyOf; function names match ^[a-zA-Z0-9_-]{1,64}$;
- every object sets additionalProperties: false and lists every property in `required`;
- types: string, number, integer, boolean, object, array, null (in type lists / anyOf), enum, const, anyOf;
- allowed keywords: strings pattern/format (date-time, time, date, duration, email, hostname, ipv4, ipv6,
  uuid); numbers minimum/maximum/exclusiveMinimum/exclusiveMaximum/multipleOf; arrays items/minItems/
  maxItems; plus description, title, $defs and $ref (a $ref stands alone);
- unsupported: allOf, oneOf, not, if/then/else, dependentRequired, dependentSchemas, patternProperties,
  unevaluatedProperties, propertyNames, minProperties, maxProperties, unevaluatedItems, contains,
  minContains, maxContains, uniqueItems, minLength, maxLength, default, examples;
- at most 5,000 object properties in all, 10 levels of nesting, 1,000 enum values, 120,000 characters of
  property names, definition names, enum and const values.
"""

from __future__ import annotations

import re
from typing import Any

NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
TYPES = {"string", "number", "integer", "boolean", "object", "array", "null"}
COMMON = {"type", "description", "title", "enum", "const", "anyOf", "$ref", "$defs"}
BY_TYPE = {
    "string": {"pattern", "format"},
    "number": {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"},
    "integer": {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"},
    "array": {"items", "minItems", "maxItems"},
    "object": {"properties", "required", "additionalProperties"},
    "boolean": set(),
    "null": set(),
}
FORMATS = {"date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6", "uuid"}
MAX_PROPERTIES, MAX_DEPTH, MAX_ENUM_VALUES, MAX_STRING_CHARS = 5000, 10, 1000, 120_000


class _Budget:
    def __init__(self) -> None:
        self.properties = 0
        self.enum_values = 0
        self.chars = 0


def strict_problems(tool: dict[str, Any]) -> list[str]:
    """Every way a Chat Completions `tools` entry breaks strict mode (empty list: accepted)."""
    problems: list[str] = []
    if tool.get("type") != "function":
        problems.append("tool type must be 'function'")
    function = tool.get("function", {})
    if not NAME.match(str(function.get("name", ""))):
        problems.append(f"bad function name {function.get('name')!r}")
    if function.get("strict") is not True:
        problems.append("strict must be true")
    if not isinstance(function.get("description"), str) or not function["description"]:
        problems.append("a description is required")
    schema = function.get("parameters")
    if not isinstance(schema, dict):
        return [*problems, "parameters must be an object schema"]
    if schema.get("type") != "object" or "anyOf" in schema:
        problems.append("the root must be a plain object schema")
    budget = _Budget()
    _check(schema, "$", problems, budget, depth=0, root=schema)
    if budget.properties > MAX_PROPERTIES:
        problems.append(f"{budget.properties} properties > {MAX_PROPERTIES}")
    if budget.enum_values > MAX_ENUM_VALUES:
        problems.append(f"{budget.enum_values} enum values > {MAX_ENUM_VALUES}")
    if budget.chars > MAX_STRING_CHARS:
        problems.append(f"{budget.chars} characters of names and values > {MAX_STRING_CHARS}")
    return problems


def _types(node: dict[str, Any]) -> set[str]:
    kind = node.get("type")
    if kind is None:
        return set()
    return set(kind) if isinstance(kind, list) else {kind}


def _check(
    node: Any, path: str, problems: list[str], budget: _Budget, *, depth: int, root: dict[str, Any]
) -> None:
    if not isinstance(node, dict):
        problems.append(f"{path}: a schema must be an object")
        return
    if depth > MAX_DEPTH:
        problems.append(f"{path}: nested deeper than {MAX_DEPTH} levels")
    if "$ref" in node:
        if set(node) != {"$ref"}:
            problems.append(f"{path}: $ref must stand alone")
        if not str(node["$ref"]).startswith("#"):
            problems.append(f"{path}: only local $ref")
        return
    kinds = _types(node)
    unknown_types = kinds - TYPES
    if unknown_types:
        problems.append(f"{path}: unsupported type {sorted(unknown_types)}")
    if not kinds and not {"anyOf", "enum", "const"} & set(node):
        problems.append(f"{path}: no type")
    allowed = COMMON.union(*(BY_TYPE.get(k, set()) for k in kinds))
    for key in node:
        if key not in allowed:
            problems.append(f"{path}: keyword {key!r} is not supported in strict mode")
    if "format" in node and node["format"] not in FORMATS:
        problems.append(f"{path}: format {node['format']!r} not supported")
    for value in node.get("enum", ()):
        budget.enum_values += 1
        budget.chars += len(str(value))
    if "object" in kinds:
        _check_object(node, path, problems, budget, depth=depth, root=root)
    if "array" in kinds:
        if "items" not in node:
            problems.append(f"{path}: arrays need items")
        else:
            _check(node["items"], f"{path}[]", problems, budget, depth=depth + 1, root=root)
    for index, branch in enumerate(node.get("anyOf", ())):
        _check(branch, f"{path}|{index}", problems, budget, depth=depth + 1, root=root)
    for name, definition in node.get("$defs", {}).items():
        budget.chars += len(name)
        _check(definition, f"$defs.{name}", problems, budget, depth=depth + 1, root=root)


def _check_object(
    node: dict[str, Any], path: str, problems: list[str], budget: _Budget, *, depth: int, root: dict[str, Any]
) -> None:
    if node.get("additionalProperties") is not False:
        problems.append(f"{path}: additionalProperties must be false")
    properties = node.get("properties", {})
    if sorted(node.get("required", [])) != sorted(properties):
        problems.append(f"{path}: required must list every property")
    for name, child in properties.items():
        budget.properties += 1
        budget.chars += len(name)
        _check(child, f"{path}.{name}", problems, budget, depth=depth + 1, root=root)
