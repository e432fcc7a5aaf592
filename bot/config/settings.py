"""The configuration file's model: one YAML file, validated section by section (secrets: secrets.py)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from tools.bases.catalog import BaseCatalog
from tools.changes.registry_host import RegistryService
from tools.errors import ConfigError
from tools.events.rules import AnomalyRules, PushRules
from tools.inventory.models import RegistrySource
from tools.registry.kinds.select import kind_for

DEFAULT_CONFIG = "regent.yml"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PortainerSettings(_Section):
    """Where Portainer is; the API key comes from PORTAINER_API_KEY.

    `registry_proxy_auth` says how requests through BE's registry proxy authenticate. BE strips only the
    `Authorization` header before forwarding to the registry, so an `X-API-Key` header may reach the
    registry (a third party: Docker Hub, ECR, ...). "login" (the default) sends a JWT from a service
    account's login (PORTAINER_PROXY_USERNAME / PORTAINER_PROXY_PASSWORD), which sits in `Authorization`
    and is stripped; "direct" never uses the proxy (registries need entries under `registries:`);
    "api-key" sends PORTAINER_API_KEY through the proxy, an explicit choice `regent doctor` warns about.
    """

    url: str
    verify_tls: bool | str = Field(default=True, description="false, true or a CA bundle path")
    registry_scheme: str = Field(default="https", description="scheme for registries reached directly (CE)")
    registry_proxy_auth: Literal["login", "direct", "api-key"] = Field(
        default="login",
        description="BE registry proxy: a service account's JWT (login), never the proxy (direct), or the "
        "API key (api-key: it may be forwarded to the registry)",
    )


class RegistrySettings(_Section):
    """A registry Regent reaches directly (extra, or a Portainer CE registry by name)."""

    name: str
    url: str
    username_env: str | None = None
    password_env: str | None = None
    cost_per_gb_month: float = 0.0
    quota_bytes: int | None = None
    blob_redirect_hosts: list[str] = Field(
        default_factory=list, description="storage hosts blob GETs may be redirected to (S3, GCS, CDN)"
    )
    kind: str | None = Field(
        default=None,
        description="adapter: custom, dockerhub, ecr, azure, gar, github, gitlab, harbor, quay, proget; "
        "null: from Portainer's record type, else the host",
    )
    api_url: str | None = Field(
        default=None, description="the native API's base URL where it is another host (hub.docker.com, ...)"
    )
    region: str = Field(default="", description="ECR: the AWS region")
    extra: dict[str, str] = Field(
        default_factory=dict, description="what a kind's native API needs besides URL and credentials"
    )

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return kind_for(hint=value)
        except ConfigError as exc:  # pydantic reports ValueErrors at the field
            raise ValueError(str(exc)) from exc

    @field_validator("api_url")
    @classmethod
    def _http_api(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("api_url must be an http(s) URL")
        return value.rstrip("/") if value else value


class SlackApprovers(_Section):
    """Who may approve a deletion: Slack user ids and Slack user group ids (membership checked live)."""

    users: list[str] = Field(default_factory=list, description="Slack user ids, e.g. U0123ABCD")
    usergroups: list[str] = Field(default_factory=list, description="Slack user group ids, e.g. S0456EFGH")


class SlackSettings(_Section):
    """The Slack app: where the digest goes and who approves; tokens come from SLACK_* variables."""

    digest_channel: str | None = None
    approvers: SlackApprovers = Field(default_factory=SlackApprovers)
    requester_may_approve: bool = False
    proposal_ttl_hours: float = Field(default=24.0, gt=0, le=24 * 30)
    usergroup_cache_seconds: float = Field(default=60.0, ge=0, description="membership cache lifetime")


class LLMSettings(_Section):
    """The LLM loop: model and bounds; OPENAI_BASE_URL / OPENAI_API_KEY / REGENT_MODEL come from the env."""

    model: str = "gpt-4o-mini"
    max_steps: int = Field(default=8, ge=2, le=32, description="LLM calls per question (last: no tools)")
    tool_timeout_s: float = Field(default=20.0, gt=0, le=600, description="wall time limit of one tool call")
    request_timeout_s: float = Field(default=60.0, gt=0, le=600, description="one LLM HTTP request")
    temperature: float = Field(default=0.0, ge=0, le=2)
    stream: bool = Field(default=False, description="stream completions (SSE) instead of one JSON answer")
    memory_turns: int = Field(default=10, ge=0, le=50, description="earlier turns per thread sent along")
    max_tokens: int | None = Field(
        default=None, ge=16, le=32768, description="cap on one completion's tokens; null: the endpoint's"
    )
    select_tools: bool = Field(
        default=True,
        description="send only the tool schemas a question's words ask for (bot/agent/toolsets.py); "
        "false: every allowed tool's schema on every request (larger prompts, the pre-#17 behaviour)",
    )
    out_of_scope_reply: bool = Field(
        default=False,
        description="answer a message about nothing the toolbox knows with what Regent can do, without the "
        "model (for small models, which cannot decline: docs/assistant.md)",
    )


class EventsSettings(_Section):
    """Registry notifications: whose pulls are not use, where alerts go; the shared secret is in the env."""

    secret_env: str = Field(default="REGENT_EVENTS_SECRET", description="variable holding the shared secret")
    ignore_actors: list[str] = Field(default_factory=list, description="globs: scanners, replication, CI")
    ignore_user_agents: list[str] = Field(default_factory=list, description="globs, e.g. 'Trivy/*'")
    alert_channel: str | None = Field(default=None, description="Slack channel for anomalous pushes")
    anomaly_channel: str | None = Field(default=None, description="Slack channel for access anomalies")
    max_body_bytes: int = Field(default=4 << 20, ge=1024, le=64 << 20, description="larger posts get 413")
    push: PushRules = Field(default_factory=PushRules)
    anomalies: AnomalyRules = Field(default_factory=AnomalyRules)
    mirrors: dict[str, str] = Field(
        default_factory=dict, description="pull-through cache host -> the upstream it mirrors (docker.io)"
    )


def _feed_source(value: str | None) -> str | None:
    if value and "://" in value and not value.startswith(("http://", "https://")):
        raise ValueError("a feed is a file path or an http(s) URL")
    return value


class VulnTicketSettings(_Section):
    """Optional ticketing: after approval, a proposed ticket is POSTed to this webhook."""

    url: str = Field(description="http(s) webhook that creates the ticket")
    preset: Literal["generic", "jira", "servicenow"] = "generic"
    project: str = Field(default="", description="Jira project key (preset jira)")
    issue_type: str = Field(default="Bug", description="Jira issue type (preset jira)")
    assignment_group: str = Field(default="", description="ServiceNow assignment group (preset servicenow)")
    token_env: str | None = Field(default=None, description="variable holding a bearer token for the webhook")

    @field_validator("url")
    @classmethod
    def _http_only(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("the ticket webhook must be an http(s) URL")
        return value


class VulnsSettings(_Section):
    """Vulnerability triage: exploitability feeds, approved bases, report limits, ticketing."""

    kev: str | None = Field(default=None, description="CISA KEV JSON: a file path or an http(s) URL")
    epss: str | None = Field(default=None, description="EPSS CSV (.csv, .csv.gz): a path or http(s) URL")
    approved_bases: list[str] = Field(default_factory=list, description="base image references, with tags")
    token_env: str = Field(default="REGENT_VULNS_TOKEN", description="variable holding the upload token")
    max_report_bytes: int = Field(default=64 << 20, ge=1024, le=1 << 30, description="larger reports: 413")
    ticket: VulnTicketSettings | None = None

    _check_kev = field_validator("kev")(_feed_source)
    _check_epss = field_validator("epss")(_feed_source)


class DigestSettings(_Section):
    """The daily digest: when and where it is posted, prices and quotas, and its thresholds."""

    channel: str | None = Field(default=None, description="Slack channel; default slack.digest_channel")
    cron: str = Field(default="0 9 * * 1-5", description="5-field cron expression, in `timezone`")
    timezone: str = Field(default="UTC", description="IANA zone of the cron and of calendar days")
    catch_up_hours: float = Field(
        default=6.0, ge=0, le=24, description="after a restart, still post a run missed this recently"
    )
    retry_minutes: float = Field(default=10.0, gt=0, le=240, description="wait after a failed post")
    max_attempts: int = Field(default=3, ge=1, le=10, description="failed posts per day before giving up")
    crawl_first: bool = Field(default=True, description="crawl before a scheduled digest (live data)")
    chart: bool = Field(default=True, description="upload the stored-bytes chart with the message")
    chart_in_thread: bool = Field(default=False, description="put the chart in the digest's thread")
    currency: str = Field(default="USD", min_length=1, max_length=8)
    cost_per_gb_month: dict[str, float] = Field(
        default_factory=dict, description="registry name or URL -> price; wins over registries[].cost"
    )
    quota_bytes: dict[str, int] = Field(
        default_factory=dict, description="registry name or URL -> quota; wins over registries[].quota"
    )
    stale_days: int = Field(default=90, ge=1, le=3650)
    stale_clock: Literal["created", "first_seen", "pushed", "last_pulled"] = "created"
    sprawl_tags: int = Field(default=50, ge=2, description="repositories with at least this many tags")
    forecast_days: int = Field(default=90, ge=7, le=730, description="history the forecast is fitted on")
    rows: int = Field(default=5, ge=1, le=10, description="rows per table in the digest")
    summary: bool = Field(default=True, description="a 3-sentence summary by one LLM call, if a model is set")

    @model_validator(mode="after")
    def _valid_schedule(self) -> DigestSettings:
        from bot.schedule import parse_cron

        parse_cron(self.cron, timezone=self.timezone)  # CronError is a ValueError: reported at this section
        return self


class InventorySettings(_Section):
    """Crawls in `regent serve`: when, how stale /readyz tolerates, event-driven refresh and verification."""

    crawl_cron: str | None = Field(
        default=None,
        description="5-field cron in `timezone` for scheduled crawls in regent serve; null: none",
    )
    timezone: str = Field(default="UTC", description="IANA zone of crawl_cron")
    max_age_minutes: float | None = Field(
        default=None,
        gt=0,
        description="/readyz fails when the newest snapshot is older; null: three crawl_cron intervals",
    )
    refresh_on_events: bool = Field(
        default=True,
        description="registries that send notifications are refreshed in just the repositories named",
    )
    event_delay_seconds: float = Field(
        default=10.0, ge=0, le=3600, description="gather notifications this long before refreshing"
    )
    verify_hours: float = Field(
        default=24.0, gt=0, le=24 * 30, description="full crawl at least this often, to catch missed events"
    )

    @model_validator(mode="after")
    def _valid_schedule(self) -> InventorySettings:
        from bot.schedule import load_zone, parse_cron

        load_zone(self.timezone)
        if self.crawl_cron is not None:
            parse_cron(self.crawl_cron, timezone=self.timezone)
        return self


class PrivilegeSettings(_Section):
    """The start-up check of what the credentials can do (bot/commands/doctor.py, `regent doctor`)."""

    on_start: bool = Field(default=True, description="run the check when regent serve and regent chat start")
    delete_probe: bool = Field(
        default=True,
        description="in cleanup mode, DELETE the all-zero digest once per registry to learn whether deletes "
        "would work (it names nothing, so nothing can be deleted)",
    )


Mode = Literal["read-only", "cleanup"]
READ_ONLY_REASON = (
    "Regent runs in read-only mode (mode: read-only in its configuration), so it cannot propose or "
    "execute deletions or other changes; an administrator can set mode: cleanup once the credentials "
    "allow it (see `regent doctor`)"
)


class Settings(_Section):
    """The whole configuration file."""

    mode: Mode = Field(
        default="cleanup", description="read-only: no proposals, approvals or deletions; cleanup: all of it"
    )
    privileges: PrivilegeSettings = Field(default_factory=PrivilegeSettings)
    portainer: PortainerSettings | None = None
    registries: list[RegistrySettings] = Field(default_factory=list)
    docker_hosts: list[str] = Field(default_factory=list)
    environments: dict[str, list[str]] = Field(default_factory=dict)
    crawl_workers: int = Field(default=32, ge=1, le=64)  # tools/inventory/crawl.py DEFAULT_WORKERS
    policies_file: str | None = None
    slack: SlackSettings = Field(default_factory=SlackSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    events: EventsSettings = Field(default_factory=EventsSettings)
    digest: DigestSettings = Field(default_factory=DigestSettings)
    inventory: InventorySettings = Field(default_factory=InventorySettings)
    vulns: VulnsSettings = Field(default_factory=VulnsSettings)
    bases: BaseCatalog = Field(
        default_factory=dict, description="approved base images per language (docs/bases.md)"
    )
    registry_services: list[RegistryService] = Field(
        default_factory=list,
        description="where self-hosted registries run in Portainer: garbage collection, cache changes",
    )


def configured_prices(settings: Settings) -> dict[str, float]:
    """Prices set in the config: registries[].cost_per_gb_month when given, then digest.cost_per_gb_month."""
    prices = {
        entry.name: entry.cost_per_gb_month
        for entry in settings.registries
        if "cost_per_gb_month" in entry.model_fields_set
    }
    return prices | settings.digest.cost_per_gb_month


def configured_quota(settings: Settings, source: RegistrySource) -> int | None:
    """The registry's quota in bytes: digest.quota_bytes (by name or URL), else registries[].quota_bytes."""
    for key in (source.name, source.url):
        if key in settings.digest.quota_bytes:
            return settings.digest.quota_bytes[key]
    entry = next((e for e in settings.registries if e.name == source.name), None)
    return entry.quota_bytes if entry is not None else None


def read_only_reason(settings: Settings) -> str | None:
    """Why Regent may not change anything, or None in cleanup mode."""
    return READ_ONLY_REASON if settings.mode == "read-only" else None


def settings_summary(settings: Settings) -> dict[str, Any]:
    """What the configuration says, without secrets, for `regent config` and error reports."""
    return settings.model_dump(mode="json")
