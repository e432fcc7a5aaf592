"""The adapter's clocks, from the snapshot `regent inventory` saved, in get_image and findings (#13).

Each kind's Portainer end-to-end test calls `assert_clocks_shown` once, on an image whose clocks it set:
the toolbox's get_image must name the push clock (and the pull clock, where the image has a pull time) with
the adapter's origin and the right day, and find_stale_images by the "pushed" clock must find the image
stale with a reason naming the same origins. An image without a pull time shows none: no date, no origin,
and the finding says "no pull recorded (<pull clock>)", or "no pull clock" for a kind without one
(unknown either way), never an age.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

from bot.inventory_run import DB_NAME
from tools.analysis.clocks import age_days
from tools.analysis.findings import find_stale_images
from tools.inventory.models import InventorySnapshot, RegistryInventory
from tools.inventory.store import SnapshotStore
from tools.toolbox.context import ToolContext
from tools.toolbox.dispatch import Toolbox


def newest_snapshot(state_dir: Path) -> InventorySnapshot:
    """The snapshot the last `regent inventory` run saved in its state directory."""
    store = SnapshotStore(state_dir / DB_NAME)
    try:
        snapshot = store.latest()
    finally:
        store.close()
    assert snapshot is not None, f"no snapshot saved in {state_dir / DB_NAME}"
    return snapshot


def _holding(snapshot: InventorySnapshot, digest: str) -> RegistryInventory:
    held = [inventory for inventory in snapshot.registries if digest in inventory.manifests]
    assert len(held) == 1, f"{digest} is in {len(held)} registries of the snapshot"
    return held[0]


def _get_image(snapshot: InventorySnapshot, registry: str, image: str) -> dict[str, Any]:
    toolbox = Toolbox(ToolContext(snapshot=lambda: snapshot, now=lambda: snapshot.taken_at))
    args = json.dumps({"image": image, "registry": registry})
    outcome = toolbox.call("get_image", args, user="U1", conversation="C")
    details: dict[str, Any] = json.loads(outcome.content)
    return details


def _day(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d")


def assert_clocks_shown(
    state_dir: Path,
    *,
    digest: str,
    repository: str,
    tag: str,
    pushed: dt.datetime,
    push_origin: str,
    pull_origin: str | None,
    pulled: dt.datetime | None = None,
) -> None:
    """get_image and the stale finding for `repository:tag` show the adapter's clocks with their origins.

    `push_origin`/`pull_origin` are the adapter's clock names (pull_origin None: the kind has no pull
    clock); `pushed`/`pulled` the image's times as seeded (pulled None: no pull time for this image).
    """
    assert pulled is None or pull_origin is not None, "a pull time needs a pull clock"
    snapshot = newest_snapshot(state_dir)
    inventory = _holding(snapshot, digest)
    assert (inventory.push_clock, inventory.pull_clock) == (push_origin, pull_origin)

    details = _get_image(snapshot, inventory.source.name, f"{repository}:{tag}")
    assert details.get("digest") == digest, details
    assert (details["pushed"], details["pushed_origin"]) == (_day(pushed), push_origin), details
    assert f"pushed {_day(pushed)} ({push_origin})" in details["headline"]
    if pulled is None:
        # unknown, not old: no date, no origin, nothing about a pull in the headline
        assert (details.get("last_pulled"), details.get("last_pulled_origin")) == (None, None), details
        assert "last pulled" not in details["headline"]
    else:
        assert (details["last_pulled"], details["last_pulled_origin"]) == (_day(pulled), pull_origin)
        assert f"last pulled {_day(pulled)} ({pull_origin})" in details["headline"]

    # stale by the push clock, as of the crawl, with a threshold just under the image's ages
    now = snapshot.taken_at
    ages = [age_days(now, moment) for moment in (pushed, pulled) if moment is not None]
    assert min(ages) > 0, f"the seeded clocks of {repository}:{tag} are not before the crawl"
    threshold = max(0, math.floor(min(ages)) - 1)
    report = find_stale_images(inventory, now=now, older_than_days=threshold, clock="pushed")
    (finding,) = [image for image in report.images if image.digest == digest]
    assert (finding.clock, finding.time, finding.origin) == ("pushed", pushed, push_origin)
    expected = f"stale: pushed {age_days(now, pushed):.0f} days ago ({push_origin})"
    if pulled is None:
        assert (finding.last_pulled, finding.last_pulled_origin) == (None, None)
        # a registry with a pull clock recorded no pull (unknown, never old); one without cannot tell
        expected += f"; no pull recorded ({pull_origin})" if pull_origin else "; no pull clock"
    else:
        assert (finding.last_pulled, finding.last_pulled_origin) == (pulled, pull_origin)
        expected += f"; last pulled {age_days(now, pulled):.0f} days ago ({pull_origin})"
    assert finding.reason == expected
    # the push clock decides: a day past its age, the same image is not stale
    later = find_stale_images(
        inventory, now=now, older_than_days=math.ceil(age_days(now, pushed)) + 1, clock="pushed"
    )
    assert digest not in {image.digest for image in later.images}
