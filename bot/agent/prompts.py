"""Prompts are text files in `prompts/`, shipped inside the package as `bot.prompts`, rendered with
string.Template `$placeholders`.

A missing placeholder value is an error (Template.substitute), so a prompt never goes out half-filled.
They are read with importlib.resources, so an installed wheel (no checkout anywhere) finds them too.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from importlib.resources.abc import Traversable
from string import Template


def prompts_dir() -> Traversable:
    """Where the prompt files are: the `bot.prompts` package data (prompts/ in a checkout)."""
    return resources.files("bot.prompts")


class Prompts:
    """Loads prompt templates once and renders them."""

    def __init__(self, directory: Traversable | None = None) -> None:
        self._directory = directory if directory is not None else prompts_dir()
        self._cache: dict[str, Template] = {}

    def render(self, name: str, values: Mapping[str, object]) -> str:
        """The prompt `name` (file `<name>.txt`) with its placeholders filled."""
        template = self._cache.get(name)
        if template is None:
            template = Template(self._directory.joinpath(f"{name}.txt").read_text(encoding="utf-8"))
            self._cache[name] = template
        return template.substitute({k: str(v) for k, v in values.items()}).strip()
