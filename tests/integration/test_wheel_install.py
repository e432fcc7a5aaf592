"""A normal (non-editable) install works outside the checkout: the wheel, a fresh venv, a foreign cwd.

The fresh venv gets the dependencies through a .pth line naming the project venv's site-packages (no
network, and that directory's own .pth files — the editable finder — are not run), so `bot` and `tools`
come only from the installed wheel.
"""

from __future__ import annotations

import datetime as dt
import os
import site
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.demo.registry_server import RegistryServer
from bot.demo.seed import Seeder, seed_sample
from tests.fakes.openai_server import FakeOpenAI

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.real


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            ".",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    (path,) = out.glob("regent-*.whl")
    return path


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    (target,) = venv.glob("lib/python*/site-packages")
    (target / "regent-deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(target)
    entry = venv / "bin" / "regent"
    entry.write_text(f"#!{venv}/bin/python\nimport sys\nfrom bot.cli import main\nsys.exit(main())\n")
    entry.chmod(0o755)
    yield venv


def _env(state: Path, **extra: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "TMPDIR"}}
    return keep | {"REGENT_STATE_DIR": str(state), "REGENT_CONFIG": str(state / "none.yml")} | extra


def test_the_wheel_ships_two_packages_with_prompts_and_no_test_sandbox(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"bot", "tools"}
    assert "bot/prompts/system.txt" in names
    assert not [n for n in names if n.startswith(("bot/sandbox", "tests/", "bench/"))]


def test_installed_regent_runs_from_a_foreign_directory(
    installed: Path, registry: RegistryServer, seeder: Seeder, tmp_path: Path
) -> None:
    seed_sample(seeder, now=dt.datetime.now(dt.UTC), runnable=False)
    (tmp_path / "none.yml").write_text("{}\n")
    regent = str(installed / "bin" / "regent")
    where = subprocess.run(
        [str(installed / "bin" / "python"), "-c", "import bot, tools; print(bot.__file__, tools.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        env=_env(tmp_path),
    ).stdout
    assert str(ROOT) not in where and str(installed) in where
    helped = subprocess.run(
        [regent, "--help"], check=False, cwd=tmp_path, capture_output=True, text=True, env=_env(tmp_path)
    )
    assert helped.returncode == 0 and "inventory" in helped.stdout
    crawled = subprocess.run(
        [regent, "inventory", "--registry", registry.url, "--json", "--no-progress"],
        check=False,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        timeout=120,
    )
    assert crawled.returncode == 0, crawled.stderr
    assert '"repositories"' in crawled.stdout
    system_prompt = (ROOT / "prompts" / "system.txt").read_text().splitlines()[0].strip()
    with FakeOpenAI([{"content": "Nothing to see."}]) as fake:
        chatted = subprocess.run(
            [regent, "chat"],
            check=False,
            input="How big is shop/api?\nexit\n",
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            env=_env(tmp_path, OPENAI_BASE_URL=fake.base_url, OPENAI_API_KEY="sk-test", REGENT_MODEL="fake"),
        )
        assert chatted.returncode == 0, chatted.stderr
        assert "Nothing to see." in chatted.stdout
        sent = fake.requests[0]["messages"][0]
        assert sent["role"] == "system" and system_prompt in sent["content"]
