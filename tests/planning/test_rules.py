"""Rule packs: the shipped packs load; a malformed pack fails with the file and the key named."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import pytest

from planning.rules import RULES_DIR, RulePackError, available_packs, load_pack, pack_for_province


def test_shipped_packs_load_with_sources_versions_and_dates() -> None:
    assert {"national-ttlt-15-2016", "haiphong", "thaibinh"} <= set(available_packs())
    for name in available_packs():
        p = load_pack(name)
        assert p.version and p.valid_from
        assert all(s.document for s in p.legal_sources)
        # every rule cites a source of the pack
        ids = {s.id for s in p.legal_sources}
        assert {r.source for r in p.classification.rules} <= ids
        assert p.zoning.source in ids and p.spacing.source in ids
    nat = load_pack("national-ttlt-15-2016")
    assert "15/2016/TTLT-BTTTT-BXD" in nat.citation("ttlt-15-2016")
    # the thresholds of TTLT 15/2016 are data
    self_supporting = next(r for r in nat.classification.rules if r.id == "A1a.self_supporting")
    limits = {(c.field, c.ref): (c.value, c.factor) for c in self_supporting.conditions}
    assert limits[("mast_height_m", None)][0] == 3.0
    assert limits[("mast_height_m", "building_height_m")][1] == pytest.approx(0.20)
    assert limits[("reach_m", None)][0] == 0.5


def test_province_packs_extend_the_national_one_and_flag_what_is_borrowed() -> None:
    hp = load_pack("haiphong")
    assert hp.province == "haiphong" and hp.extends == "national-ttlt-15-2016"
    assert [r.id for r in hp.classification.rules] == [r.id for r in load_pack("national-ttlt-15-2016")
                                                      .classification.rules]
    assert {"ttlt-15-2016", "hp-qd-2522-2015"} <= {s.id for s in hp.legal_sources}
    assert hp.spacing.status == "provisional" and hp.ambiguity_text(hp.spacing.ambiguity)
    a2c = next(r for r in hp.classification.rules if r.mast_class == "A2c")
    assert a2c.status == "provisional" and hp.ambiguity_text(a2c.ambiguity)
    assert pack_for_province("HaiPhong").id == "haiphong"
    # issue 15 pt 5: pack validity is honoured. Thái Bình's pack ends on 2025-06-30 (the province merged
    # into Hưng Yên); the Hưng Yên pack succeeds it from 2025-07-01.
    assert pack_for_province("thaibinh", dt.date(2024, 5, 1)).id == "thaibinh"
    assert pack_for_province("thaibinh", dt.date(2025, 7, 1)).id == "national-ttlt-15-2016"
    assert pack_for_province("hungyen", dt.date(2025, 7, 1)).id == "hungyen"
    assert pack_for_province("hungyen", dt.date(2025, 6, 30)).id == "national-ttlt-15-2016"
    assert pack_for_province("hatinh").id == "national-ttlt-15-2016"  # no pack of its own


def _write(tmp: Path, body: str, name: str = "bad.yaml") -> Path:
    p = tmp / name
    p.write_text(textwrap.dedent(body), encoding="utf-8")
    return p


HEAD = """\
id: test
title: t
version: "1"
valid_from: 2020-01-01
legal_sources: [{id: src, document: Doc 1}]
zoning: {source: src, policies: [{policy: a1_only, forbidden: [A2a], route_rule: r, zone_rule: z, source: src}]}
spacing: {source: src, default: {id: d, urban_m: 100}}
"""


@pytest.mark.parametrize("classification, key", [
    ("classification: {rules: [{id: a, class: A1a, source: src, description: d, "
     "conditions: [{field: mast_height_m, op: lte, value: 3}]}]}", "classification.rules[0].conditions[0].op"),
    ("classification: {rules: [{id: a, class: A9z, source: src, description: d}]}", "classification.rules[0].class"),
    ("classification: {rules: [{id: a, class: A1a, source: nowhere, description: d}]}",
     "classification.rules[0].source"),
    ("classification: {rules: [{id: a, class: A1a, source: src, description: d, "
     "conditions: [{field: camouflaged, op: eq, value: 3}]}]}", "classification.rules[0].conditions[0]"),
    ("classification: {rules: [{id: a, class: A1a, source: src, description: d, treshold: 3}]}",
     "classification.rules[0].treshold"),
    ("classification: {rules: []}", "classification.rules"),
])
def test_malformed_pack_names_the_key(tmp_path: Path, classification: str, key: str) -> None:
    p = _write(tmp_path, HEAD + classification + "\n")
    with pytest.raises(RulePackError) as e:
        load_pack(p)
    assert "bad.yaml" in str(e.value)
    assert key in str(e.value)


def test_missing_key_invalid_yaml_and_unknown_pack(tmp_path: Path) -> None:
    p = _write(tmp_path, HEAD.replace("zoning: {source: src, ", "zoning: {")
               + "classification: {rules: [{id: a, class: A1a, source: src, description: d}]}\n")
    with pytest.raises(RulePackError, match=r"zoning\.source: Field required"):
        load_pack(p)
    with pytest.raises(RulePackError, match="not valid YAML"):
        load_pack(_write(tmp_path, "id: [unclosed\n", "broken.yaml"))
    with pytest.raises(RulePackError, match="unknown rule pack 'nowhere'.*haiphong"):
        load_pack("nowhere")


def test_a_new_circular_is_a_new_file(tmp_path: Path) -> None:
    """A successor pack extends a shipped one and changes only a threshold."""
    _write(tmp_path, (RULES_DIR / "national-ttlt-15-2016.yaml").read_text(encoding="utf-8"),
           "national-ttlt-15-2016.yaml")
    p = _write(tmp_path, """\
        id: successor
        title: successor circular
        version: "2030.1"
        extends: national-ttlt-15-2016
        valid_from: 2030-01-01
        legal_sources: [{id: new-circular, document: "Thông tư 99/2030/TT-BTTTT"}]
        spacing: {default: {id: new, urban_m: 150.0, rural_m: 500.0}}
        """, "successor.yaml")
    pack = load_pack(p)
    assert pack.spacing.default.urban_m == 150.0
    assert pack.spacing.default.rural_m == 500.0
    assert {"ttlt-15-2016", "new-circular"} <= {s.id for s in pack.legal_sources}
    assert pack.is_valid_on(__import__("datetime").date(2031, 1, 1))
    assert not pack.is_valid_on(__import__("datetime").date(2029, 1, 1))
