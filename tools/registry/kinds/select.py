"""Which adapter serves a registry: from its kind hint, else the URL's host, else plain v2.

The hint is `kind:` in Regent's config or a Portainer record's `kind` (Portainer's type map lives with
the record, `tools.portainer.models.REGISTRY_KINDS`). Portainer has no GAR or Harbor type: those are
Custom records, told apart by host (`*-docker.pkg.dev`, `gcr.io`) or by `kind:` in Regent's config.
"""

from __future__ import annotations

import importlib

from tools.errors import ConfigError
from tools.registry.kinds.base import AdapterConfig, KindName, NativeRegistry

# kind -> "module:Class"; a kind's folder adds itself here (one line), imported only when used.
ADAPTERS: dict[str, str] = {
    "quay": "tools.registry.kinds.quay.adapter:QuayRegistry",
    "harbor": "tools.registry.kinds.harbor.adapter:HarborRegistry",
    "github": "tools.registry.kinds.github.adapter:GithubRegistry",
    "gitlab": "tools.registry.kinds.gitlab.adapter:GitlabRegistry",
    "dockerhub": "tools.registry.kinds.dockerhub.adapter:DockerHubRegistry",
    "ecr": "tools.registry.kinds.ecr.adapter:EcrRegistry",
    "azure": "tools.registry.kinds.azure.adapter:AzureRegistry",
    "gar": "tools.registry.kinds.gar.adapter:GarRegistry",
}

_HOST_SUFFIXES: tuple[tuple[str, KindName], ...] = (
    ("docker.io", "dockerhub"),
    (".amazonaws.com", "ecr"),
    (".azurecr.io", "azure"),
    ("-docker.pkg.dev", "gar"),
    ("gcr.io", "gar"),
    ("ghcr.io", "github"),
    ("quay.io", "quay"),
)
KINDS: tuple[KindName, ...] = (
    "custom",
    "dockerhub",
    "ecr",
    "azure",
    "gar",
    "github",
    "gitlab",
    "harbor",
    "quay",
    "proget",
)


def kind_for(*, host: str = "", hint: str | None = None) -> KindName:
    """The kind of a registry: the hint (config `kind:` or a Portainer record's kind) wins, then the host."""
    if hint:
        if hint not in KINDS:
            raise ConfigError(f"registry kind {hint!r} is not one of: {', '.join(KINDS)}")
        return hint
    name = host.lower().split(":")[0]
    for suffix, kind in _HOST_SUFFIXES:
        if name == suffix.lstrip(".-") or name.endswith(suffix):
            return kind
    return "custom"


def adapter_class(kind: str) -> type[NativeRegistry]:
    """The adapter class for a kind; plain v2 for kinds without one (custom, proget)."""
    path = ADAPTERS.get(kind)
    if path is None:
        return NativeRegistry
    module, _, name = path.partition(":")
    found = getattr(importlib.import_module(module), name)
    if not (isinstance(found, type) and issubclass(found, NativeRegistry)):
        raise TypeError(f"{path} is not a NativeRegistry")
    return found


def build_registry(config: AdapterConfig) -> NativeRegistry:
    """The client for one registry: its kind's adapter, or plain v2 when reached through BE's proxy.

    BE's proxy forwards only the v2 API, and native APIs need the registry's own credentials, which the
    proxy keeps to itself: a proxied registry is read through v2 only (its clocks stay unknown).
    """
    if config.headers or config.params:
        return NativeRegistry(config)
    return adapter_class(config.kind)(config)
