"""The registered kinds of change: adding one is its module (tools/changes/<kind>.py) plus a line here.

A kind's `name` is what proposals store (proposals.kind), so a registered name is never changed.
"""

from __future__ import annotations

from typing import Any

from tools.changes.base import ChangeKind
from tools.changes.gc import GC
from tools.changes.retention import RETENTION
from tools.changes.stack_update import STACK_UPDATE
from tools.changes.suspension import SUSPENSION
from tools.changes.ticket import TICKET

KINDS: tuple[ChangeKind[Any], ...] = (
    RETENTION,  # "plan": a retention plan, deleting manifests by digest
    SUSPENSION,  # "portainer_user_suspension"
    TICKET,  # "ticket": one CVE's ticket in the configured tracker
    GC,  # "gc_run": garbage collection on a self-hosted registry in a Portainer environment
    STACK_UPDATE,  # "stack_update": a registry's stack file (a pull-through cache configuration, a revert)
)
