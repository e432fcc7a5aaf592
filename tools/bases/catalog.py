"""The approved-bases catalog (configuration `bases:`): per language, the base repositories and tags
developers may build on, and the frameworks each fits."""

from __future__ import annotations

import fnmatch
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Language = Literal["python", "node", "java", "go", "dotnet", "static"]
LANGUAGES: tuple[Language, ...] = ("python", "node", "java", "go", "dotnet", "static")


class CatalogEntry(BaseModel):
    """One language's approved bases."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    repositories: list[str] = Field(
        min_length=1, description="runtime base repositories, e.g. 'base/python' (any registry Regent knows)"
    )
    tags: list[str] = Field(default_factory=lambda: ["*"], description="allowed tag globs, e.g. '3.12-slim*'")
    build_repositories: list[str] = Field(
        default_factory=list, description="builder images for the first stage (default: the runtime base)"
    )
    frameworks: list[str] = Field(
        default_factory=list, description="frameworks this base suits, e.g. fastapi, spring (any when empty)"
    )

    @field_validator("repositories", "build_repositories")
    @classmethod
    def _no_tags(cls, values: list[str]) -> list[str]:
        for value in values:
            if ":" in value.split("/")[-1] or "@" in value:
                raise ValueError(f"{value!r}: name a repository; tags go in `tags`")
        return [v.strip("/").lower() for v in values]

    def allows_tag(self, tag: str) -> bool:
        """True when the tag matches one of the allowed globs."""
        return any(fnmatch.fnmatchcase(tag, pattern) for pattern in self.tags)


BaseCatalog = dict[Language, CatalogEntry]
