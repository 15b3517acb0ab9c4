"""The domain vocabulary is spelled once (planning/vocab.py); what reads words from people maps onto it."""

from __future__ import annotations

import pytest

from geodata.io import import_kinds as ik
from planning import vocab


@pytest.mark.parametrize(("words", "values"), [
    (ik.MOUNT_WORDS, vocab.MOUNTS),
    (ik.STRUCTURE_WORDS, vocab.STRUCTURES),
    (ik.SITE_STATUS_WORDS, vocab.SITE_STATUSES),
    (ik.POLICY_WORDS, vocab.ZONE_POLICIES),
    (ik.CABLE_STATUS_WORDS, vocab.SEGMENT_STATUSES),
    (ik.CABLE_METHOD_WORDS, vocab.CABLE_METHODS),
])
def test_import_words_name_exactly_the_vocabulary(words: dict[str, str], values: tuple[str, ...]) -> None:
    """Every value can be imported, and no synonym leads outside the vocabulary."""
    assert set(words.values()) == set(values)


def test_subsets_taken_by_position_stay_right_when_the_order_changes() -> None:
    """Some subsets are slices of an ordered vocabulary; reordering it must not change their meaning."""
    assert set(vocab.LIVE_SITE_STATUSES) == {"planned", "built"}
    # issue 16: the plans count chỉnh trang, hạ ngầm and both; a firm may propose any of them
    assert set(vocab.PROPOSED_CABLE_METHODS) == {"chinh_trang", "ha_ngam", "chinh_trang_ha_ngam"}
    assert set(vocab.LEGACY_CABLE_METHODS.values()) <= set(vocab.CABLE_METHODS)
    assert vocab.DECISIONS_NEEDING_REASON == ("return", "reject")
    assert set(vocab.ITEM_DECISIONS) < set(vocab.PLAN_DECISIONS)

