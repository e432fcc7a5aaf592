"""Strict function schemas generated from the args models: accepted by strict-mode rules, valid JSON Schema,
and round-tripping (a strict call with nulls validates to the model's defaults)."""

from __future__ import annotations

import json
from typing import Any, Literal

import jsonschema
import pytest
from pydantic import BaseModel, ConfigDict, Field

from tests.unit.strict_schema import strict_problems
from tools.toolbox.context import ToolContext
from tools.toolbox.dispatch import Toolbox, default_tools
from tools.toolbox.schema import function_tool, prepare_arguments, strict_parameters

EXPECTED_TOOLS = {
    "list_registries",
    "list_environments",
    "search_images",
    "get_image",
    "compare_images",
    "find_stale_images",
    "registry_usage",
    "preview_retention_policy",
    "image_usage",
    "audit_log",
    "access_anomalies",
    "cache_advice",
    "vulnerability_report",
    "get_cve",
    "suggest_base_upgrade",
    "recommend_base_image",
    "compliance_report",
    "propose_deletion",
    "propose_retention_cleanup",
    "propose_user_suspension",
    "propose_ticket",
    "propose_garbage_collection",
    "propose_cache_configuration",
    "propose_stack_revert",
}
PROPOSING = {
    "propose_deletion",
    "propose_retention_cleanup",
    "propose_user_suspension",
    "propose_ticket",
    "propose_garbage_collection",
    "propose_cache_configuration",
    "propose_stack_revert",
}


SAMPLES: dict[str, Any] = {
    "image": "shop/api:1.0",
    "images": ["a:1"],
    "cve": "CVE-2024-3094",
    "language": "go",
}


def sample_value(schema: dict[str, Any]) -> Any:
    """Some value of a required property's type (a test may name a better one in SAMPLES)."""
    kind = schema.get("type")
    if "enum" in schema:
        return schema["enum"][0]
    if kind == "array":
        return [sample_value(schema["items"])] * max(1, int(schema.get("minItems", 1)))
    if kind in ("integer", "number"):
        return max(1, int(schema.get("minimum", 1)))
    if kind == "boolean":
        return True
    return "x:1"


def all_tools() -> list[dict[str, Any]]:
    toolbox = Toolbox(ToolContext(snapshot=lambda: None))
    return toolbox.openai_tools(toolbox.names(proposing=True))


def test_the_toolbox_has_the_required_tools_and_only_the_proposing_ones_propose() -> None:
    specs = default_tools()
    assert {s.name for s in specs} == EXPECTED_TOOLS
    assert {s.name for s in specs if s.proposes} == PROPOSING
    toolbox = Toolbox(ToolContext(snapshot=lambda: None))
    assert set(toolbox.names(proposing=False)) == EXPECTED_TOOLS - PROPOSING
    assert set(toolbox.names(proposing=True)) == EXPECTED_TOOLS


def test_proposing_tools_are_offered_only_for_the_intent_asked() -> None:
    toolbox = Toolbox(ToolContext(snapshot=lambda: None))
    read_only = EXPECTED_TOOLS - PROPOSING
    cleanup = {"propose_deletion", "propose_retention_cleanup", "propose_garbage_collection"}
    assert set(toolbox.names(proposing=frozenset())) == read_only
    assert set(toolbox.names(proposing={"cleanup"})) == read_only | cleanup
    assert set(toolbox.names(proposing={"suspension"})) == read_only | {"propose_user_suspension"}
    assert set(toolbox.names(proposing={"ticket"})) == read_only | {"propose_ticket"}
    configuration = {"propose_cache_configuration", "propose_stack_revert"}
    assert set(toolbox.names(proposing={"configuration"})) == read_only | configuration


@pytest.mark.parametrize("tool", all_tools(), ids=lambda t: t["function"]["name"])
def test_every_schema_is_accepted_by_strict_mode_rules(tool: dict[str, Any]) -> None:
    assert strict_problems(tool) == []
    jsonschema.Draft202012Validator.check_schema(tool["function"]["parameters"])


@pytest.mark.parametrize("spec", default_tools(), ids=lambda s: s.name)
def test_a_strict_call_with_every_optional_null_validates_to_the_defaults(spec: Any) -> None:
    schema = strict_parameters(spec.args)
    # What a strict-mode model must send: every property present; optional ones may be null.
    call: dict[str, Any] = {name: None for name in schema["properties"]}
    for name, field in spec.args.model_fields.items():
        if field.is_required():
            call[name] = SAMPLES.get(name) or sample_value(schema["properties"][name])
    jsonschema.validate(call, schema)
    parsed = spec.args.model_validate(prepare_arguments(spec.args, call))
    for name, field in spec.args.model_fields.items():
        if not field.is_required():
            assert getattr(parsed, name) == field.default, name


class _Nested(BaseModel):
    """Nested part."""

    model_config = ConfigDict(extra="forbid")

    size: int | None = Field(None, ge=1, description="a size")


class _Example(BaseModel):
    """An example tool."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=10, description="a name")
    mode: Literal["a", "b"] = Field("a", description="the mode")
    limit: int = Field(20, ge=1, le=50, description="a limit")
    nested: _Nested | None = Field(None, description="nested")
    items: list[_Nested] = Field(default_factory=list, description="items")


def test_generation_inlines_refs_and_strips_unsupported_keywords() -> None:
    tool = function_tool("example", _Example)
    params = tool["function"]["parameters"]
    text = json.dumps(params)
    assert "$ref" not in text and "$defs" not in text and '"default"' not in text
    assert "maxLength" not in text and "title" not in text
    assert params["required"] == ["name", "mode", "limit", "nested", "items"]
    assert params["properties"]["limit"]["type"] == ["integer", "null"]  # a nullable scalar, collapsed
    assert params["properties"]["mode"]["anyOf"][1] == {"type": "null"}  # an enum keeps its anyOf
    assert "Null: 20" in params["properties"]["limit"]["description"]
    assert params["properties"]["nested"]["anyOf"][0]["additionalProperties"] is False
    assert strict_problems(tool) == []


def test_missing_descriptions_are_refused() -> None:
    class Bad(BaseModel):
        """Has a field without description."""

        x: int

    with pytest.raises(ValueError, match=r"Bad\.x needs Field"):
        strict_parameters(Bad)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda p: p.pop("additionalProperties"), "additionalProperties must be false"),
        (lambda p: p["required"].pop(), "required must list every property"),
        (lambda p: p["properties"]["name"].update(default="x"), "'default' is not supported"),
        (lambda p: p["properties"]["name"].update(maxLength=3), "'maxLength' is not supported"),
        (lambda p: p["properties"].update(extra={"allOf": [{"type": "string"}]}), "'allOf' is not supported"),
        (lambda p: p["properties"]["name"].update(format="uri"), "format 'uri' not supported"),
        (
            lambda p: p["properties"].update(r={"$ref": "#/$defs/x", "description": "d"}),
            "$ref must stand alone",
        ),
    ],
)
def test_the_checker_catches_what_strict_mode_rejects(mutate: Any, message: str) -> None:
    tool = function_tool("example", _Example)
    mutate(tool["function"]["parameters"])
    assert any(message in problem for problem in strict_problems(tool)), strict_problems(tool)


def test_the_checker_limits_nesting_depth() -> None:
    node: dict[str, Any] = {"type": "string", "description": "leaf"}
    for _ in range(12):
        node = {"type": "object", "properties": {"x": node}, "required": ["x"], "additionalProperties": False}
    tool = {
        "type": "function",
        "function": {"name": "deep", "description": "d", "parameters": node, "strict": True},
    }
    assert any("nested deeper" in p for p in strict_problems(tool))
