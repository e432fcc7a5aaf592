"""Whole-inventory computations pause the cyclic collector, and hand what they keep to the oldest
generation unwalked when collection resumes (#17): nothing else about collection changes."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from tools.analysis.bulk import bulk, gc_paused


class Node:
    """A plain tracked object (instances of classes are tracked by the collector)."""

    def __init__(self) -> None:
        self.other: Node | None = None


@pytest.fixture(autouse=True)
def _collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


@bulk
def _make(n: int) -> list[Node]:
    assert not gc.isenabled()  # paused while it runs
    return [Node() for _ in range(n)]


def _in_generation(obj: object, generation: int) -> bool:
    return any(o is obj for o in gc.get_objects(generation=generation))


def test_what_a_computation_keeps_goes_to_the_oldest_generation_and_collection_resumes() -> None:
    kept = _make(100)
    assert gc.isenabled()
    assert _in_generation(kept, 2) and _in_generation(kept[0], 2)
    assert not _in_generation(kept[0], 0)


def test_nested_pauses_resume_once_at_the_outermost() -> None:
    with gc_paused():
        inner = _make(3)
        assert not gc.isenabled()
    assert gc.isenabled()
    assert _in_generation(inner, 2)


def test_a_pause_leaves_objects_the_process_froze_alone() -> None:
    gc.collect()
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        kept = _make(10)
        assert gc.get_freeze_count() == frozen  # no unfreeze of what the process froze itself
        assert kept
    finally:
        gc.unfreeze()


def test_a_cycle_made_while_paused_is_still_collected() -> None:
    @bulk
    def make_cycle() -> None:
        a, b = Node(), Node()
        a.other, b.other = b, a

    gc.collect()
    make_cycle()
    assert gc.collect() >= 2  # the full collection finds it in the oldest generation
