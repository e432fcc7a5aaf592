"""The one way Regent writes a number of bytes: binary units, one decimal (`512 B`, `1.5 KiB`, `2.0 GiB`).

Binary because registries, Docker and Portainer count in powers of two, and one decimal because sizes are
compared at a glance, not added up (the exact count is always next to it where it matters).
"""

from __future__ import annotations

BINARY_UNITS = (
    ("B", 1),
    ("KiB", 1 << 10),
    ("MiB", 1 << 20),
    ("GiB", 1 << 30),
    ("TiB", 1 << 40),
    ("PiB", 1 << 50),
)


def format_bytes(count: float, *, signed: bool = False) -> str:
    """Bytes in binary units (`1.5 GiB`); `signed` writes a change (`+1.5 GiB`, `-20.0 MiB`, `±0 B`)."""
    if signed and count == 0:
        return "±0 B"
    sign = "-" if count < 0 else "+" if signed else ""
    value = abs(count)
    for name, factor in BINARY_UNITS:
        digits = 0 if factor == 1 else 1
        shown = round(value / factor, digits)
        # Decided after rounding, so 1048575 bytes is "1.0 MiB", never "1024.0 KiB".
        if shown < 1024 or name == BINARY_UNITS[-1][0]:
            return f"{sign}{shown:.{digits}f} {name}"
    raise AssertionError("unreachable")  # pragma: no cover - the last unit always returns
