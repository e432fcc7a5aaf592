"""The process environment: the only place Regent reads environment variables (and `*_FILE` secrets).

Everything else receives what it needs as arguments, built by bot/app.py from `load_settings`,
`load_secrets` and `state_dir`. Each reader takes an optional mapping so tests pass their own environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import ValidationError

from bot.config.settings import Settings
from tools.errors import ConfigError

DEFAULT_CONFIG = "regent.yml"
Env = Mapping[str, str]


def process_env(env: Env | None = None) -> Env:
    """The given mapping, or the process environment."""
    return os.environ if env is None else env


def read_env(name: str, env: Env | None = None) -> str | None:
    """A variable's value, or the content of the file its `_FILE` twin names (mounted secrets)."""
    env = process_env(env)
    value = env.get(name)
    if value:
        return value
    path = env.get(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text().strip() or None
        except OSError as exc:
            raise ConfigError(
                f"{name}_FILE points at {path!r}, which cannot be read: {exc.strerror}"
            ) from None
    return None


def state_dir(env: Env | None = None) -> Path:
    """REGENT_STATE_DIR, else the user's state directory (XDG_STATE_HOME or ~/.local/state)/regent."""
    env = process_env(env)
    if env.get("REGENT_STATE_DIR"):
        return Path(env["REGENT_STATE_DIR"]).expanduser()
    base = env.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "regent"


def load_settings(path: str | None, env: Env | None = None) -> Settings:
    """Load and validate the config file; a missing default file means an empty configuration."""
    explicit = path or process_env(env).get("REGENT_CONFIG")
    file = Path(explicit or DEFAULT_CONFIG)
    if not file.exists():
        if explicit:
            raise ConfigError(f"config file {file} does not exist")
        return Settings()
    import yaml  # here: a run with flags only (`regent inventory --registry URL`) never needs it (#17)

    try:
        data = yaml.safe_load(file.read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{file}:{mark.line + 1}:{mark.column + 1}" if mark else str(file)
        raise ConfigError(f"{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{file}: the top level must be a mapping")
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{file}: {field}: {first['msg']}") from None
