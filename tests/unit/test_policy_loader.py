"""Policy files: the documented shape loads; each bad file gives one located message, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.errors import ConfigError, PolicyFileError
from tools.policy.loader import load_policies, parse_policies

GOOD = """\
protected_tags: ["prod"]
policies:
  - name: team-x cleanup
    registry: "*"
    repositories: ["team-x/**"]
    keep:
      - most_recent: 5
        clock: created
      - tags: ["prod", "stable", "v*"]
      - semver: {per: minor, most_recent: 2}
      - pulled_within_days: 30
    delete:
      - older_than_days: 90
      - dangling_older_than_days: 30
      - all: true
"""


def test_the_documented_shape_loads() -> None:
    policies = parse_policies(GOOD)
    policy = policies.policies[0]
    assert policies.protected_tags == ["prod"]
    assert [rule.kind for rule in policy.keep] == ["most_recent", "tags", "semver", "pulled_within_days"]
    assert [rule.kind for rule in policy.delete] == ["older_than_days", "dangling_older_than_days", "all"]
    assert policy.tags == ["*"] and policy.clock == "created"


BAD = [
    (
        "unknown field",
        "policies:\n  - name: a\n    repositories: [x]\n    keeep: []\n",
        "p.yml:4:5: policies[0].keeep: unknown field 'keeep'",
        "did you mean 'keep'",
    ),
    (
        "negative count",
        "policies:\n  - name: a\n    repositories: [x]\n    keep:\n      - most_recent: -3\n",
        "p.yml:5:22: policies[0].keep[0].most_recent:",
        "greater than or equal to 1",
    ),
    (
        "bad glob",
        'policies:\n  - name: a\n    repositories: ["x/*", "y/[abc"]\n',
        "p.yml:3:27: policies[0].repositories[1]:",
        "never closed",
    ),
    (
        "bad regex",
        'policies:\n  - name: a\n    repositories: ["re:(abc"]\n',
        "p.yml:3:20: policies[0].repositories[0]:",
        "bad regular expression",
    ),
    (
        "yaml syntax",
        "policies:\n  - name: a\n    repositories: [x\n",
        "p.yml:4:1: YAML error",
        "expected ',' or ']'",
    ),
    (
        "yaml indentation",
        "policies:\n  - name: a\n   repositories: [x]\n",
        "p.yml:3:",
        "YAML error",
    ),
    (
        "two kinds in one rule",
        "policies:\n  - name: a\n    repositories: [x]\n    delete:\n"
        "      - all: true\n        older_than_days: 3\n",
        "p.yml:5:9: policies[0].delete[0]:",
        "exactly one of",
    ),
    (
        "number where a tag is expected",
        "policies:\n  - name: a\n    repositories: [x]\n    keep:\n      - tags: [1.10]\n",
        "p.yml:5:16: policies[0].keep[0].tags[0]:",
        "quote it",
    ),
    (
        "string where a count is expected",
        'policies:\n  - name: a\n    repositories: [x]\n    delete:\n      - older_than_days: "3"\n',
        "p.yml:5:26: policies[0].delete[0].older_than_days:",
        "valid integer",
    ),
    (
        "unknown clock",
        "policies:\n  - name: a\n    repositories: [x]\n    clock: yesterday\n",
        "p.yml:4:12: policies[0].clock:",
        "'created', 'first_seen', 'pushed' or 'last_pulled'",
    ),
    (
        "missing field",
        "policies:\n  - name: a\n",
        "p.yml:2:5: policies[0].repositories:",
        "required",
    ),
    (
        "duplicate key",
        "policies:\n  - name: a\n    repositories: [x]\n    repositories: [y]\n",
        "p.yml:4:5: policies[0].repositories:",
        "appears twice",
    ),
    ("empty file", "", "p.yml:1:1:", "empty"),
    ("not a mapping", "- a\n", "p.yml:1:1:", "expected a mapping"),
    (
        "duplicate names",
        "policies:\n  - {name: a, repositories: [x]}\n  - {name: a, repositories: [y]}\n",
        "p.yml:3:12: policies[1].name:",
        "used twice",
    ),
    (
        "all: false",
        "policies:\n  - name: a\n    repositories: [x]\n    delete:\n      - all: false\n",
        "p.yml:5:14: policies[0].delete[0].all:",
        "True",
    ),
]


@pytest.mark.parametrize(("case", "text", "where", "what"), BAD, ids=[b[0] for b in BAD])
def test_bad_files_give_one_located_message(case: str, text: str, where: str, what: str) -> None:
    with pytest.raises(PolicyFileError) as caught:
        parse_policies(text, source="p.yml")
    message = str(caught.value)
    assert message.startswith(where), message
    assert what in message, message
    assert len(caught.value.issues) == 1, message
    assert "Traceback" not in message and "pydantic" not in message
    assert isinstance(caught.value, ConfigError)


def test_load_policies_reads_a_file_and_names_it(tmp_path: Path) -> None:
    path = tmp_path / "policies.yml"
    path.write_text(GOOD.replace("most_recent: 5", "most_recent: 0"))
    with pytest.raises(PolicyFileError, match=rf"^{path}:7:22: policies\[0\].keep\[0\].most_recent"):
        load_policies(path)
    path.write_text(GOOD)
    assert load_policies(path).policy_names() == ["team-x cleanup"]


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyFileError, match="cannot read the file"):
        load_policies(tmp_path / "nope.yml")
