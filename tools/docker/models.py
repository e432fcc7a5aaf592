"""Typed views of Docker Engine API JSON (`containers/json`, `images/json`), shared by every engine source."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator


class ApiModel(BaseModel):
    """Base of parsed API objects: unknown fields dropped (secrets included), immutable, by alias or name."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


def none_to_empty(value: object) -> object:
    """Validator: Go encodes nil slices and maps as null; read them as empty."""
    # Go encodes nil slices and maps as null; an absent list means the same as an empty one here.
    return [] if value is None else value


class Container(ApiModel):
    """A Docker container summary (`containers/json`)."""

    id: str = Field(alias="Id")
    names: list[str] = Field(default_factory=list, alias="Names")
    image: str = Field("", alias="Image")
    image_id: str = Field("", alias="ImageID")
    state: str = Field("", alias="State")
    labels: dict[str, str] = Field(default_factory=dict, alias="Labels")

    _nulls = field_validator("names", "labels", mode="before")(none_to_empty)

    @property
    def name(self) -> str:
        """The first name without Docker's leading slash, or the short id."""
        return self.names[0].lstrip("/") if self.names else self.id[:12]


class Image(ApiModel):
    """A Docker image summary (`images/json`)."""

    id: str = Field(alias="Id")
    repo_tags: list[str] = Field(default_factory=list, alias="RepoTags")
    repo_digests: list[str] = Field(default_factory=list, alias="RepoDigests")

    _nulls = field_validator("repo_tags", "repo_digests", mode="before")(none_to_empty)
