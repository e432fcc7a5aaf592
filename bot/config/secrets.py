"""Every secret Regent holds, in one object, read once from the environment by `load_secrets`.

Redaction (design invariant 4) is derived from this object: `Secrets.values()` walks every field, so a
secret added here is redacted before anything reaches the LLM without being listed a second time.
Non-secret endpoints that come from the environment (Slack API URL, LLM base URL and model) ride along,
since the same loader reads them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from bot.config.env import Env, process_env, read_env
from bot.config.settings import Settings
from tools.errors import ConfigError


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class SlackEnv(_Frozen):
    """Slack credentials and endpoint; the tokens are never logged."""

    bot_token: SecretStr | None = None
    app_token: SecretStr | None = None  # set: Socket Mode; unset: HTTP mode (needs signing_secret)
    signing_secret: SecretStr | None = None
    api_url: str = "https://slack.com/api/"


class LLMEnv(_Frozen):
    """The OpenAI-compatible endpoint; the key is never logged or sent to the LLM."""

    base_url: str | None = None
    api_key: SecretStr | None = None
    model: str | None = None  # REGENT_MODEL overrides llm.model

    @property
    def configured(self) -> bool:
        """True when an endpoint or a key is set (a local server may need no key)."""
        return bool(self.base_url or self.api_key)


class VulnsEnv(_Frozen):
    """Secrets of the vulnerability feature: the report upload token and the ticket webhook's token."""

    upload_token: SecretStr | None = None
    ticket_token: SecretStr | None = None


class Secrets(_Frozen):
    """Every secret of the process (and the endpoints read with them)."""

    portainer_api_key: SecretStr | None = None
    # The service account whose JWT authenticates BE registry-proxy requests (portainer.registry_proxy_auth).
    portainer_proxy_username: str | None = None
    portainer_proxy_password: SecretStr | None = None
    registry_username: str | None = None
    registry_password: SecretStr | None = None
    registry_credentials: dict[str, tuple[str, SecretStr]] = Field(default_factory=dict)
    events_secret: SecretStr | None = None
    mcp_token: SecretStr | None = None
    slack: SlackEnv = Field(default_factory=SlackEnv)
    llm: LLMEnv = Field(default_factory=LLMEnv)
    vulns: VulnsEnv = Field(default_factory=VulnsEnv)

    def values(self) -> list[str]:
        """Every secret string held, for redaction before anything reaches the LLM, Slack or a log."""
        return sorted({value for value in _walk(self) if value})


def _walk(value: Any) -> Iterator[str]:
    if isinstance(value, SecretStr):
        yield value.get_secret_value()
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _walk(getattr(value, name))
    elif isinstance(value, dict):
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, tuple | list):
        for item in value:
            yield from _walk(item)


def _secret(name: str | None, env: Env) -> SecretStr | None:
    value = read_env(name, env) if name else None
    return SecretStr(value) if value else None


def load_secrets(settings: Settings, env: Env | None = None) -> Secrets:
    """Collect every secret the configuration refers to from the environment (or `*_FILE` twins)."""
    env = process_env(env)
    ticket = settings.vulns.ticket
    return Secrets(
        portainer_api_key=_secret("PORTAINER_API_KEY", env),
        portainer_proxy_username=read_env("PORTAINER_PROXY_USERNAME", env),
        portainer_proxy_password=_secret("PORTAINER_PROXY_PASSWORD", env),
        registry_username=read_env("REGENT_REGISTRY_USERNAME", env),
        registry_password=_secret("REGENT_REGISTRY_PASSWORD", env),
        registry_credentials=_registry_credentials(settings, env),
        events_secret=_secret(settings.events.secret_env, env),
        mcp_token=_secret("REGENT_MCP_TOKEN", env),
        slack=SlackEnv(
            bot_token=_secret("SLACK_BOT_TOKEN", env),
            app_token=_secret("SLACK_APP_TOKEN", env),
            signing_secret=_secret("SLACK_SIGNING_SECRET", env),
            api_url=(env.get("SLACK_API_URL") or "https://slack.com/api/").rstrip("/") + "/",
        ),
        llm=LLMEnv(
            base_url=(env.get("OPENAI_BASE_URL") or "").rstrip("/") or None,
            api_key=_secret("OPENAI_API_KEY", env),
            model=env.get("REGENT_MODEL") or None,
        ),
        vulns=VulnsEnv(
            upload_token=_secret(settings.vulns.token_env, env),
            ticket_token=_secret(ticket.token_env if ticket is not None else None, env),
        ),
    )


def _registry_credentials(settings: Settings, env: Env) -> dict[str, tuple[str, SecretStr]]:
    named: dict[str, tuple[str, SecretStr]] = {}
    for registry in settings.registries:
        if registry.username_env and registry.password_env:
            user, secret = read_env(registry.username_env, env), read_env(registry.password_env, env)
            if user is None or secret is None:
                raise ConfigError(
                    f"registry {registry.name}: set {registry.username_env} and {registry.password_env}"
                )
            named[registry.name] = (user, SecretStr(secret))
    return named
