"""The package list in pyproject.toml is written out (prompts/ ships as bot.prompts): it must name every
package folder under bot/ and tools/, or a normal install silently lacks it."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_package_folder_is_listed_and_nothing_else() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    on_disk = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in ("bot", "tools")
        for init in (ROOT / top).rglob("__init__.py")
    }
    assert listed == on_disk | {"bot.prompts"}
    assert config["package-dir"] == {"bot.prompts": "prompts"}
    assert (ROOT / "prompts" / "system.txt").is_file()
