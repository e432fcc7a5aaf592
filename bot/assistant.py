"""The assistant's parts from settings and the app's stores: the chat model and the bounded agent loop.

Only bot/app.py calls these (the one composition root); they live apart to keep the root small.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from pydantic import SecretStr

from bot.agent.llm import ChatModel, OpenAIChat
from bot.agent.loop import Agent, AgentLimits
from bot.agent.memory import ConversationMemory
from bot.agent.prompts import Prompts
from bot.approvals.audit import AuditLog
from bot.config import Secrets, Settings
from bot.toolbox_context import tool_audit
from tools.inventory.models import InventorySnapshot
from tools.toolbox.dispatch import Toolbox


def build_agent(
    *,
    model: ChatModel,
    toolbox: Toolbox,
    audit: AuditLog,
    settings: Settings,
    secrets: Secrets,
    db: Path,
    latest_snapshot: Callable[[], InventorySnapshot | None],
    clock: Callable[[], datetime],
) -> Agent:
    """The bounded LLM loop over the toolbox, with memory, audit and the redaction of every secret held."""
    return Agent(
        llm=model,
        toolbox=toolbox,
        prompts=Prompts(),
        memory=ConversationMemory(db, keep_turns=max(settings.llm.memory_turns, 1)),
        audit=tool_audit(audit),
        limits=AgentLimits(
            max_steps=settings.llm.max_steps,
            tool_timeout_s=settings.llm.tool_timeout_s,
            memory_turns=settings.llm.memory_turns,
        ),
        prompt_values=lambda: {"inventory": inventory_line(latest_snapshot())},
        secrets_to_redact=secrets.values(),
        clock=clock,
        select=settings.llm.select_tools,
        scope_reply=settings.llm.out_of_scope_reply,
    )


def chat_model(settings: Settings, secrets: Secrets) -> OpenAIChat | None:
    """The configured OpenAI-compatible model, or None when no endpoint or key is set."""
    llm_env = secrets.llm
    if not llm_env.configured:
        return None
    return OpenAIChat(
        model=llm_env.model or settings.llm.model,
        base_url=llm_env.base_url,
        api_key=plain(llm_env.api_key),
        temperature=settings.llm.temperature,
        timeout_s=settings.llm.request_timeout_s,
        stream=settings.llm.stream,
        max_tokens=settings.llm.max_tokens,
    )


def plain(secret: SecretStr | None) -> str | None:
    """The secret's value for the one client that needs it, or None."""
    return secret.get_secret_value() if secret is not None else None


def inventory_line(snapshot: InventorySnapshot | None) -> str:
    """One bounded line about the latest snapshot for the system prompt (counts only, no names)."""
    if snapshot is None:
        return "no inventory yet (tools will say so; suggest running `regent inventory`)."
    tags = sum(inv.tag_count for inv in snapshot.registries)
    return (
        f"snapshot of {snapshot.taken_at.strftime('%Y-%m-%d %H:%M')} UTC, {len(snapshot.registries)} "
        f"registries, {tags:,} tags, {len(snapshot.environments)} environments, "
        f"{len(snapshot.deployments):,} deployments."
    )
