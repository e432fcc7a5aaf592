"""Prompts are text files in `prompts/`, rendered with string.Template `$placeholders`.

A missing placeholder value is an error (Template.substitute), so a prompt never goes out half-filled.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from string import Template

PROMPTS_DIR = Path(__file__).resolve().parents[2] / "prompts"


class Prompts:
    """Loads prompt templates once and renders them."""

    def __init__(self, directory: Path = PROMPTS_DIR) -> None:
        self._directory = directory
        self._cache: dict[str, Template] = {}

    def render(self, name: str, values: Mapping[str, object]) -> str:
        """The prompt `name` (file `<name>.txt`) with its placeholders filled."""
        template = self._cache.get(name)
        if template is None:
            template = Template((self._directory / f"{name}.txt").read_text(encoding="utf-8"))
            self._cache[name] = template
        return template.substitute({k: str(v) for k, v in values.items()}).strip()
