"""The heap freeze that keeps full garbage collections off the event loop (serving.lifecycle)."""

from __future__ import annotations

import gc
import weakref
from types import SimpleNamespace

import pytest

from serving.lifecycle import freeze_heap


class _Node:
    """An object in a reference cycle (freed by the collector only, never by refcounts)."""


@pytest.fixture
def unfrozen():
    gc.unfreeze()
    yield
    gc.unfreeze()


def _svc(on: bool) -> SimpleNamespace:
    return SimpleNamespace(settings=SimpleNamespace(freeze_heap=on))


def test_freeze_keeps_live_objects_out_and_the_next_freeze_frees_dropped_cycles(unfrozen) -> None:
    node = _Node()
    node.me = node
    alive = weakref.ref(node)
    freeze_heap(_svc(True))
    assert gc.get_freeze_count() > 0
    del node
    gc.collect()  # a full pass does not look at frozen objects: the dropped cycle stays
    assert alive() is not None
    freeze_heap(_svc(True))  # a reload's freeze unfreezes and collects first
    assert alive() is None


def test_freeze_can_be_turned_off(unfrozen) -> None:
    freeze_heap(_svc(False))
    assert gc.get_freeze_count() == 0
