"""Settings (the configuration file) and secrets (the environment): the only code that reads env vars."""

from bot.config.env import DEFAULT_CONFIG, load_settings, read_env, state_dir
from bot.config.secrets import LLMEnv, Secrets, SlackEnv, VulnsEnv, load_secrets
from bot.config.settings import (
    READ_ONLY_REASON,
    DigestSettings,
    EventsSettings,
    InventorySettings,
    LLMSettings,
    PortainerSettings,
    RegistrySettings,
    Settings,
    configured_prices,
    configured_quota,
    read_only_reason,
)

__all__ = [
    "DEFAULT_CONFIG",
    "READ_ONLY_REASON",
    "DigestSettings",
    "EventsSettings",
    "InventorySettings",
    "LLMEnv",
    "LLMSettings",
    "PortainerSettings",
    "RegistrySettings",
    "Secrets",
    "Settings",
    "SlackEnv",
    "VulnsEnv",
    "configured_prices",
    "configured_quota",
    "load_secrets",
    "load_settings",
    "read_env",
    "read_only_reason",
    "state_dir",
]
