"""LLM evals against a real model: opt-in, run only when OPENAI_API_KEY is set.

    OPENAI_API_KEY=... [OPENAI_BASE_URL=...] [REGENT_MODEL=gpt-4o-mini] [REGENT_EVAL_ITERATIONS=3] \
        .venv/bin/pytest -m eval tests/evals -v

Each case runs against a freshly seeded real registry; with several iterations a case passes only if
every iteration passes (flaky behaviour is a failure worth seeing).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.config import Settings, load_secrets
from bot.demo.registry_server import RegistryServer
from tests.conftest import SeederFactory
from tests.evals.cases import CASES, EvalCase
from tests.evals.harness import run_case

pytestmark = [
    pytest.mark.eval,
    pytest.mark.skipif(
        not os.environ.get("OPENAI_API_KEY"),
        reason="LLM evals need a real model: set OPENAI_API_KEY (optionally OPENAI_BASE_URL, REGENT_MODEL)",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_eval_case(
    case: EvalCase, make_seeder: SeederFactory, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    dockerd = request.getfixturevalue("dockerd") if case.dockerd else None
    iterations = int(os.environ.get("REGENT_EVAL_ITERATIONS", "1"))
    failures = []
    for iteration in range(iterations):
        with RegistryServer() as registry:
            result = run_case(
                case,
                registry=registry,
                seeder=make_seeder(registry),
                state=tmp_path / f"run{iteration}",
                llm_env=load_secrets(Settings()).llm,
                dockerd=dockerd,
            )
        if not result.passed:
            answer = result.reply.text
            failures.append(
                f"iteration {iteration}: {result.problems}; tools {result.tools}; answer: {answer!r}"
            )
    assert not failures, "\n".join(failures)
