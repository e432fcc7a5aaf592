"""The one byte formatter: binary units, one decimal, a sign only for changes."""

from __future__ import annotations

import pytest

from tools.units import format_bytes


@pytest.mark.parametrize(
    ("count", "text"),
    [
        (0, "0 B"),
        (512, "512 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (12_000, "11.7 KiB"),
        (1_048_575, "1.0 MiB"),  # the unit is chosen after rounding: never "1024.0 KiB"
        (5 * 2**30 // 2, "2.5 GiB"),
        (3 * 2**40, "3.0 TiB"),
        (2 * 2**50, "2.0 PiB"),
        (-1536, "-1.5 KiB"),
        (1_000_000.4, "976.6 KiB"),  # a float (a rate) is fine too
    ],
)
def test_sizes(count: float, text: str) -> None:
    assert format_bytes(count) == text


def test_changes_carry_a_sign() -> None:
    assert format_bytes(0, signed=True) == "±0 B"
    assert format_bytes(1536, signed=True) == "+1.5 KiB"
    assert format_bytes(-20 * 2**20, signed=True) == "-20.0 MiB"
