"""Random and adversarial input for the parsers: JSON of every shape, hostile scalars, deep nesting, and
real upstream samples with one part replaced, removed or wrapped.

Every fuzz test runs with `FUZZ`: deterministic (the same examples on every run, so the suite cannot
flake), no example database, a bounded number of examples. For a longer hunt by hand,
REGENT_FUZZ_EXAMPLES=n sets every test's example count and REGENT_FUZZ_RANDOM=1 draws new examples.
"""

from __future__ import annotations

import copy
import json
import os
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st


def fuzz_settings(examples: int) -> settings:
    """Bounded, deterministic settings; `examples` is the default count for this parser's cost."""
    count = int(os.environ.get("REGENT_FUZZ_EXAMPLES", "0")) or examples
    return settings(
        max_examples=count,
        deadline=None,  # a loaded 2-core CI machine makes per-example timings meaningless
        derandomize=os.environ.get("REGENT_FUZZ_RANDOM") != "1",
        database=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.function_scoped_fixture,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
        ],
    )


HUGE = "A" * 200_000
HOSTILE_STRINGS = (
    "",
    " ",
    "\x00",
    "\n",
    HUGE,
    "<!channel> <@U0EVIL>",
    "../../../etc/passwd",
    "shop/api\n",
    "UPPER/Case",
    "ünïcödé/ïmage",
    "\u202egnp.exe",
    "sha256:" + "g" * 64,
    "sha256:" + "A" * 64,
    "sha256:" + "a" * 63,
    "md5:abc",
    "sha256:",
    "@sha256:" + "a" * 64,
    "CVE-2026-0001\n",
    "not-a-cve",
    "NaN",
    "1e999",
    "-1",
    "2025/08/25",
    "2025-02-30",
    "9999-12-31T23:59:59Z",
    "9999-12-31T23:59:59-14:00",  # parses, but not in UTC: astimezone overflows
    "0001-01-01T00:00:00+14:00",
    "0001-01-01T00:00:00Z",  # Go's zero time.Time
    "0001-01-01T00:00:00+25:00",
    "${UNSET:-x}$$${A}",
    "{{ .Values }}",
)
HOSTILE_NUMBERS: tuple[Any, ...] = (
    0,
    -1,
    1.5,
    98,
    -0.0,
    10.000001,
    2**63,
    -(2**63) - 1,
    10**400,  # Python's int, far past int64: json.dumps writes all its digits
    float("nan"),
    float("inf"),
    float("-inf"),
    1e308,
    True,
    False,
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(HOSTILE_STRINGS),
    st.sampled_from(HOSTILE_NUMBERS),
)
keys = st.one_of(
    st.text(max_size=12), st.sampled_from(("", "\x00", "__proto__", "events", "matches", "Results"))
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4),
    max_leaves=20,
)


def nested(depth: int, *, key: str | None = None) -> bytes:
    """A JSON document `depth` levels deep (lists, or objects under `key`)."""
    if key is None:
        return b"[" * depth + b"]" * depth
    return (b'{"' + key.encode() + b'": ') * depth + b"null" + b"}" * depth


deep_documents = st.one_of(
    st.integers(min_value=65, max_value=3000).map(nested),
    st.integers(min_value=65, max_value=3000).map(lambda depth: nested(depth, key="a")),
    st.just(nested(100_000)),
)


def encode(value: Any) -> bytes:
    """JSON as a careless producer writes it: NaN and Infinity as literals, every integer in full."""
    return json.dumps(value, allow_nan=True).encode()


def paths(document: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path (keys and indexes) into a JSON document, the root included."""
    found = [prefix]
    if isinstance(document, dict):
        for key, value in document.items():
            found += paths(value, (*prefix, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found += paths(value, (*prefix, index))
    return found


@st.composite
def mutated(draw: st.DrawFn, sample: Any, *, times: int = 2) -> Any:
    """`sample` with up to `times` random parts replaced by hostile values, deleted or wrapped in a list."""
    document = copy.deepcopy(sample)
    for _ in range(draw(st.integers(min_value=1, max_value=times))):
        where = draw(st.sampled_from(paths(document)))
        action = draw(st.sampled_from(_ACTIONS))
        document = _apply(document, where, action, draw(json_values))
    return document


# Mostly hostile values in a real document; sometimes a part removed, a value wrapped, a deep branch.
_ACTIONS = ("replace",) * 5 + ("delete", "delete", "wrap", "nest")


def _apply(document: Any, where: tuple[Any, ...], action: str, value: Any) -> Any:
    if not where:
        return value if action in ("replace", "delete") else [document]
    parent = document
    for step in where[:-1]:
        parent = parent[step]
    last = where[-1]
    if action == "delete":
        del parent[last]
    elif action == "wrap":
        parent[last] = [parent[last]]
    elif action == "nest":
        parent[last] = json.loads(nested(80, key="x").decode())  # a deep branch inside a real document
    else:
        parent[last] = value
    return document


def bodies(*samples: Any) -> st.SearchStrategy[bytes]:
    """Bytes a parser of JSON may be handed: mutated real samples, any JSON, deep nesting, random bytes."""
    near_real = st.sampled_from(samples).flatmap(mutated).map(encode)
    return st.one_of(
        near_real,  # listed three times: one_of draws its branches evenly, and these reach deepest
        near_real,
        near_real,
        st.sampled_from(samples).map(encode).flatmap(truncations),
        json_values.map(encode),
        deep_documents,
        st.binary(max_size=64),
    )


def truncations(data: bytes) -> st.SearchStrategy[bytes]:
    """`data` cut off anywhere, as an interrupted download or upload leaves it."""
    return st.integers(min_value=0, max_value=max(len(data) - 1, 0)).map(lambda cut: data[:cut])
