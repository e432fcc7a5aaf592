"""Suspending a Portainer user: Portainer has no disable switch, so a suspension is a list of changes.

Proposing (`build_suspension`, read-only) lists, item by item, what would change: for an administrator
first the demotion to a standard user (`PUT /api/users/{id}` with `{"Role": 2}`), then each API key to
revoke (`DELETE /api/users/{id}/tokens/{keyID}`), then each team membership to remove (`DELETE
/api/team_memberships/{id}`). That list is stored as an Action (tools/changes/actions.py) and shown on
a card.

Portainer shows an administrator's API keys to nobody but that administrator (another administrator
gets 403, user_get_access_tokens.go:49-50), so for an administrator the keys cannot be listed before
approval: the card shows one item, "revoke every API key they have once demoted", says why, and the run
lists and revokes them right after the demotion, naming each key in the item's result.

Executing (`execute_suspension`, after an approval) re-reads the user, their keys and memberships, and
acts only on displayed items that still exist: a listed key created after the proposal is not revoked,
a user deleted since is skipped with the reason. Deleting a key that no longer exists answers 500 "API
Key not found" (not 404): it counts as already gone only when a new listing confirms it. Every item's
outcome is recorded, so a person can review and undo it (re-add memberships, restore the role; revoked
keys cannot be restored, only re-created).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from tools.changes.action_kind import ActionChangeKind
from tools.changes.actions import (
    Action,
    ActionItem,
    ActionReport,
    ActionStore,
    ItemOutcome,
    ItemStep,
    new_action,
)
from tools.changes.actions import run_action as run_stored_action
from tools.changes.base import ChangeServices, Fact, Tables
from tools.errors import NotFound, SuspensionError, UpstreamError
from tools.portainer.client import PortainerClient
from tools.portainer.models import APIKey, User

KIND = "portainer_user_suspension"
PRIVILEGED_ROLES = {1: "administrator", 3: "edge administrator"}
STANDARD_USER = 2
LIMITS = (
    "Portainer cannot disable a login: the user can still sign in with their password, as a standard "
    "user without teams. A role change ends the sessions the user has open (Portainer refuses JWTs issued "
    "before it), so a demoted administrator has to sign in again; a standard user's open sessions stay "
    "valid until they expire. Change their password (which also ends their sessions) or remove the user "
    "in Portainer to lock them out completely."
)
ADMIN_KEYS_UNKNOWN = (
    "{name} is an administrator, and Portainer shows an administrator's API keys only to that "
    "administrator: which keys {name} has, and how many, cannot be known before approval. Regent demotes "
    "{name} first, then lists and revokes every API key {name} has at that moment (keys made after this "
    "proposal included); the result names each key revoked."
)


def find_user(client: PortainerClient, wanted: str) -> User:
    """A user by id or exact username (a case-insensitive match if it is the only one)."""
    text = wanted.strip()
    if text.isdigit():
        try:
            return client.user(int(text))
        except NotFound:
            raise SuspensionError(f"Portainer has no user with id {text}") from None
    users = client.users()
    exact = [u for u in users if u.username == text]
    loose = [u for u in users if u.username.casefold() == text.casefold()]
    found = exact or loose
    if len(found) != 1:
        why = "no" if not found else "more than one"
        raise SuspensionError(f"Portainer has {why} user named {text!r}")
    return found[0]


def build_suspension(client: PortainerClient, *, user: str, reason: str, now: datetime) -> Action:
    """Read the user's keys, memberships and role, and list every change a suspension makes (no writes)."""
    me = client.current_user()
    if not me.is_admin:
        raise SuspensionError(
            f"Regent's Portainer account {me.username!r} is not an administrator; only administrators may "
            "change other users' roles, API keys and team memberships"
        )
    target = find_user(client, user)
    if target.id == me.id:
        raise SuspensionError("that is the account Regent itself uses for Portainer; it cannot suspend it")
    teams = {team.id: team.name for team in client.teams()}
    items, warnings = _role_and_key_items(client, target)
    for membership in sorted(client.user_memberships(target.id), key=lambda m: m.id):
        team = teams.get(membership.team_id, f"team {membership.team_id}")
        role = "leader" if membership.role == 1 else "member"
        items.append(
            ActionItem(
                op="remove_team_membership",
                ref=str(membership.id),
                label=f"Remove {target.username} from team {team} ({role})",
                detail={"user_id": target.id, "team_id": membership.team_id, "team": team},
            )
        )
    if not items:
        raise SuspensionError(
            f"{target.username} has no API keys, no team memberships and no admin role: nothing to suspend"
        )
    return new_action(
        kind=KIND,
        title=f"Suspend Portainer user {target.username}",
        reason=reason,
        target={"user_id": target.id, "username": target.username, "role": target.role},
        items=items,
        now=now,
        warnings=warnings,
    )


def _role_and_key_items(client: PortainerClient, target: User) -> tuple[list[ActionItem], list[str]]:
    """A standard user: one item per API key. An administrator: the demotion, then "every key once
    demoted", since another administrator's keys are a 403 until then; the card says why."""
    if target.role not in PRIVILEGED_ROLES:
        keys = sorted(client.api_keys(target.id), key=lambda k: k.id)
        return [_key_item(target, key) for key in keys], [LIMITS]
    demote = ActionItem(
        op="demote_to_standard_user",
        ref=str(target.id),
        label=f"Demote {target.username} from {PRIVILEGED_ROLES[target.role]} to standard user",
        detail={"user_id": target.id, "from_role": target.role, "to_role": STANDARD_USER},
    )
    revoke_all = ActionItem(
        op="revoke_all_api_keys",
        ref=str(target.id),
        label=f"Revoke every API key {target.username} has once demoted (cannot be listed before)",
        detail={"user_id": target.id},
    )
    return [demote, revoke_all], [LIMITS, ADMIN_KEYS_UNKNOWN.format(name=target.username)]


def _key_item(user: User, key: APIKey) -> ActionItem:
    created = datetime.fromtimestamp(key.date_created, UTC).strftime("%Y-%m-%d") if key.date_created else "?"
    used = datetime.fromtimestamp(key.last_used, UTC).strftime("%Y-%m-%d") if key.last_used else "never"
    name = key.description or "no description"
    return ActionItem(
        op="revoke_api_key",
        ref=str(key.id),
        label=f"Revoke API key {key.id} `{key.prefix}…` ({name}), created {created}, last used {used}",
        detail={"user_id": user.id, "prefix": key.prefix, "description": key.description},
    )


def execute_suspension(
    action_id: str,
    *,
    store: ActionStore,
    client: PortainerClient,
    now: Callable[[], datetime],
) -> ActionReport:
    """Run an approved suspension once: re-validate against Portainer, act on displayed items only."""
    return run_stored_action(action_id, store=store, step=lambda action: _steps(client, action), now=now)


def _steps(client: PortainerClient, action: Action) -> ItemStep:
    user_id = int(action.target["user_id"])
    username = str(action.target["username"])
    try:
        user: User | None = client.user(user_id)
    except NotFound:
        user = None
    if user is None or user.username != username:
        why = (
            f"user {username} (id {user_id}) no longer exists"
            if user is None
            else f"user id {user_id} is now {user.username!r}, not {username!r}"
        )
        return lambda _index, _item: ("skipped", why)
    memberships = {m.id: m for m in client.user_memberships(user_id)}
    # Listed only when a key item comes up: an administrator's keys are a 403 until the demotion, which
    # is the first item of their suspension.
    keys: dict[int, APIKey] | None = None

    def listed() -> dict[int, APIKey]:
        nonlocal keys
        if keys is None:
            keys = {key.id: key for key in client.api_keys(user_id)}
        return keys

    def step(_index: int, item: ActionItem) -> tuple[ItemOutcome, str]:
        if item.op == "revoke_api_key":
            if int(item.ref) not in listed():
                return "already_gone", "the key was already revoked"
            return _revoke_key(client, user_id, int(item.ref))
        if item.op == "revoke_all_api_keys":
            return _revoke_all_keys(client, user_id)
        if item.op == "remove_team_membership":
            found = memberships.get(int(item.ref))
            if found is None or found.user_id != user_id or found.team_id != item.detail.get("team_id"):
                return "already_gone", f"no longer a member of {item.detail.get('team', 'the team')}"
            return _gone_ok(lambda: client.delete_team_membership(int(item.ref)), "removed")
        if item.op == "demote_to_standard_user":
            current = client.user(user_id).role
            if current not in PRIVILEGED_ROLES:
                return "already_gone", f"already role {current} (not an administrator)"
            client.set_user_role(user_id, STANDARD_USER)
            return (
                "done",
                f"role {current} -> {STANDARD_USER} (standard user), which also ended the sessions they "
                "had open; restore the role in Portainer to undo",
            )
        return "skipped", f"unknown change {item.op!r}"

    return step


def _revoke_key(client: PortainerClient, user_id: int, key_id: int) -> tuple[ItemOutcome, str]:
    """Delete one key. Portainer answers a missing key with 500 "API Key not found", the same status as a
    real failure, so only a new listing can tell that the key is gone (someone revoked it meanwhile)."""
    try:
        client.delete_api_key(user_id, key_id)
    except UpstreamError as exc:
        if exc.status not in (404, 500) or any(k.id == key_id for k in client.api_keys(user_id)):
            raise
        return "already_gone", "already gone when Regent got to it (a new listing confirms it)"
    return "done", "revoked"


def _revoke_all_keys(client: PortainerClient, user_id: int) -> tuple[ItemOutcome, str]:
    """After the demotion: list the user's keys (now allowed) and revoke each; the reason names them."""
    role = client.user(user_id).role
    if role in PRIVILEGED_ROLES:
        return "failed", f"still role {role} (not demoted), so Portainer does not show their API keys"
    revoked: list[str] = []
    for key in sorted(client.api_keys(user_id), key=lambda k: k.id):
        outcome, _ = _revoke_key(client, user_id, key.id)
        if outcome == "done":
            revoked.append(f"{key.id} `{key.prefix}…` ({key.description or 'no description'})")
    if not revoked:
        return "already_gone", "no API keys left after the demotion"
    named = ", ".join(revoked[:10]) + (f" and {len(revoked) - 10} more" if len(revoked) > 10 else "")
    return "done", f"revoked {len(revoked)}: {named}"


def _gone_ok(act: Callable[[], None], done: str) -> tuple[ItemOutcome, str]:
    try:
        act()
    except NotFound:
        return "already_gone", "already gone when Regent got to it"
    return "done", done


class SuspensionKind(ActionChangeKind):
    """Suspending a Portainer user: revoke keys, remove memberships, demote; through Portainer's API."""

    name = KIND
    verb = "Suspend"
    nothing_done = "Nothing was changed in Portainer."
    nothing_will = "Nothing will be changed in Portainer."

    def facts(self, action: Action) -> tuple[Fact, ...]:
        """The user the card is about."""
        target = action.target
        return (Fact("Portainer user", f"{target.get('username')} (id {target.get('user_id')})"),)

    def run(self, change: Action, *, store: Tables, services: ChangeServices) -> ActionReport:
        """Re-read the user from Portainer and change only the displayed items that still exist."""
        with services.portainer_client() as client:
            return execute_suspension(change.action_id, store=store.actions, client=client, now=services.now)


SUSPENSION = SuspensionKind()
