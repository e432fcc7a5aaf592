"""The one protocol every approvable change follows: what it is, what its card shows, how it runs once.

A *change* (a retention plan, a Portainer user suspension, a ticket, ...) is stored, hashed and immutable:
it has a `kind`, a `change_id`, an `items_hash` and a one-line `summary`. Its *kind* (a `ChangeKind`,
registered once in tools/changes/kinds.py) knows the rest:

- `table`: where changes of this kind are stored ("plans" or "actions", see tools/changes/store.py);
- `view(change)`: what the approval card shows, as plain data (`ChangeView`): title, header facts,
  lines, one `ViewItem` per item (a label, optionally table cells and bytes), warnings, notes, and the
  words of its buttons. Front ends render it; none of them knows the kind;
- `run(change, store=, services=)`: re-validate every item against the live system and run it at most
  once, recording a per-item outcome; returns a report (`ChangeReport`);
- `outcome(change, result)`: the stored report (JSON) as per-item outcomes for the card;
- `created_audit` / `done_audit`: what the audit log records about the change and its run.

Executors get what they may touch from the composition root at click time (`ChangeServices`), never from
the environment, so the same change runs the same way from Slack, `regent chat` and `regent apply`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol, TypeVar

from tools.changes.actions import ActionStore
from tools.changes.revalidate import RegistryDeleter
from tools.inventory.models import Deployment
from tools.policy.store import PlanStore
from tools.portainer.client import PortainerClient
from tools.vulns.tickets import TicketTarget

Table = Literal["plans", "actions"]


class Change(Protocol):
    """A stored, hashed, immutable change an approval may run once (a Plan, an Action)."""

    @property
    def kind(self) -> str: ...

    @property
    def change_id(self) -> str: ...

    @property
    def items_hash(self) -> str: ...

    def verify_hash(self) -> bool: ...

    def summary(self) -> str: ...


class ChangeReport(Protocol):
    """What running a change returns (ExecutionReport, ActionReport): pydantic models with these fields."""

    @property
    def status(self) -> str: ...  # "already_running" means nothing ran now; anything else is final

    @property
    def message(self) -> str: ...

    @property
    def failed(self) -> int: ...

    def model_dump(self, *, mode: str = ...) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class Fact:
    """A named value the card shows (`value` is untrusted text; `code` shows it as a code span)."""

    name: str
    value: str
    code: bool = False


@dataclass(frozen=True, slots=True)
class ViewItem:
    """One item exactly as displayed: `label` for people, `ref` the exact id when the label shortens it."""

    label: str
    ref: str = ""
    cells: tuple[str, ...] = ()  # the item's row when the view has columns
    bytes: int | None = None


@dataclass(frozen=True, slots=True)
class Wording:
    """The words around a change's buttons and outcome, so a card reads right for every kind."""

    verb: str = "Run"  # the confirm button: "Delete", "Suspend", "Create ticket"
    confirm_title: str = "Run these changes?"
    confirm_text: str = "Each item is re-checked just before it is done."
    running: str = "Running now…"
    nothing_done: str = "Nothing was changed."
    nothing_will: str = "Nothing will change."


@dataclass(frozen=True, slots=True)
class ChangeView:
    """Everything an approval card shows about a change, taken only from the stored change."""

    title: str
    items_heading: str
    items: tuple[ViewItem, ...]  # every item, in display order; all of them are what is approved
    facts: tuple[Fact, ...] = ()  # the header line, next to requester and expiry
    lines: tuple[Fact, ...] = ()  # one line each, before the items (bytes, what stays, the reason)
    columns: tuple[str, ...] = ()  # the items as a table with these headers; () lists their labels
    card_items: int = 15  # how many items the card itself lists; the rest go in its thread
    bytes: int | None = None  # what the change frees, where it frees bytes
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # what else it takes (e.g. garbage collection after deletes)
    wording: Wording = Wording()
    preformatted: str = ""  # shown as a code block after the items (a stack file's diff); untrusted text


@dataclass(frozen=True, slots=True)
class ItemOutcome:
    """What a run did with one displayed item."""

    label: str
    status: str  # done, deleted, already_gone, skipped, failed
    reason: str


@dataclass(frozen=True, slots=True)
class OutcomeView:
    """What a finished run did, ready to show: a summary line and the items worth listing."""

    summary: str
    items: tuple[ItemOutcome, ...] = ()
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ChangeServices:
    """What executors may use, handed over by the composition root (bot/app.py) at click time."""

    now: Callable[[], datetime]
    registry_clients: Callable[[], AbstractContextManager[Mapping[str, RegistryDeleter]]]
    current_deployments: Callable[[], Sequence[Deployment]]
    portainer_client: Callable[[], PortainerClient]
    ticket_target: Callable[[], TicketTarget | None]
    ticket_token: str | None = None


class Tables(Protocol):
    """The tables changes are stored in, with their claims and per-item results (ChangeStore has them)."""

    @property
    def plans(self) -> PlanStore: ...

    @property
    def actions(self) -> ActionStore: ...


C_contra = TypeVar("C_contra", contravariant=True)


class ChangeKind(Protocol[C_contra]):
    """One kind of change: its name, where it is stored, its card, its executor and its audit record."""

    @property
    def name(self) -> str: ...  # stored in proposals.kind; never renamed

    @property
    def table(self) -> Table: ...

    def view(self, change: C_contra) -> ChangeView: ...

    def run(self, change: C_contra, *, store: Tables, services: ChangeServices) -> ChangeReport: ...

    def outcome(self, change: C_contra, result: Mapping[str, Any]) -> OutcomeView: ...

    def created_audit(self, change: C_contra) -> dict[str, Any]: ...

    def done_audit(self, change: C_contra, report: Any) -> dict[str, Any]: ...
