"""Untrusted JSON: every way json.loads lets hostile input through becomes a clear InvalidJson."""

from __future__ import annotations

import json

import pytest

from tools.errors import InvalidInput, InvalidJson
from tools.json_input import MAX_DEPTH, load_json


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty body; expected a JSON document"),
        (b" \n\t", "empty body"),
        (b'{"a": 1,}', "not valid JSON at line 1 column 9"),
        (b'{"a": [1, 2', "the body looks truncated"),
        (b"\xff\xfe{}", "not UTF-8 text (byte 0)"),
        (b"[" * 50_000 + b"]" * 50_000, f"nested deeper than {MAX_DEPTH} levels"),  # RecursionError inside
        (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), f"nested deeper than {MAX_DEPTH} levels"),
        (b'{"a": NaN}', "NaN is not a JSON number"),
        (b"[Infinity]", "Infinity is not a JSON number"),
        (b"[-Infinity]", "-Infinity is not a JSON number"),
        (b"[1e999]", "1e999 is out of range"),
        (
            b"1" * 5000,
            "not valid JSON",
        ),  # past Python's integer digit limit: a ValueError, not a decode error
        (b'["\\ud800"]', "unpaired surrogate escape"),
        (b'{"\\udfff": 1}', "unpaired surrogate escape"),
    ],
)
def test_hostile_json_is_refused_clearly(data: bytes, message: str) -> None:
    with pytest.raises(InvalidJson) as caught:
        load_json(data)
    assert message in str(caught.value)
    assert isinstance(caught.value, InvalidInput)


def test_plain_json_decodes_as_usual() -> None:
    document = {"a": [1, 2.5, -3e10, None, True], "b": {"c": "😀 \\ud83d\\ude00"}, "d": "é"}
    assert load_json(json.dumps(document).encode()) == document
    assert load_json(b'"\\ud83d\\ude00"') == "😀"  # a surrogate pair is one character
    assert load_json(b"\xef\xbb\xbf[1]") == [1]  # a UTF-8 BOM is allowed
    nested: object = []
    for _ in range(MAX_DEPTH - 1):
        nested = [nested]
    assert load_json(json.dumps(nested)) == nested


def test_the_caller_names_what_and_what_was_expected() -> None:
    with pytest.raises(InvalidJson, match=r"^empty file; expected a Trivy report$"):
        load_json(b"", what="file", expected="a Trivy report")
    with pytest.raises(InvalidJson, match="the file looks truncated"):
        load_json(b'{"Results": [', what="file")
    with pytest.raises(InvalidJson, match="unpaired surrogate at character 2"):
        load_json('["\ud800"]')
