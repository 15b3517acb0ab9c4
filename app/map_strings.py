"""The map's interface texts (app/static/js/i18n.js), served from the message catalog.

Why here and not in the JavaScript: one catalog (``planning/locale/vi/LC_MESSAGES/btsplan.po``) holds every
text a person reads, so the completeness test covers the map too and the same office terms are used in the
map as in reports and errors. Each text is English source text marked with context ``map`` (``NP_``), so a
short word may read differently on the map than elsewhere; ``GET /map/i18n/{lang}.json`` returns the table
in one language, and the browser substitutes ``{fields}`` itself.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from typing import Final

from planning.i18n import NP_, pgettext, use_language

#: The catalog context of every map text.
CONTEXT: Final = "map"

#: key used by the JavaScript (``t("check.ok")``, ``data-i18n="check.ok"``) → English text.
MAP_STRINGS: Final[dict[str, str]] = {
    "app.title": NP_("map", "Passive telecom infrastructure map"),
    "search.label": NP_("map", "Search"),
    "search.placeholder": NP_("map", "Find a site code, street, ward…"),
    "search.none": NP_("map", "Nothing found"),
    "check.button": NP_("map", "Check a point"),
    "check.hint": NP_("map", "Click the map where the proposed mast would stand"),
    "check.title": NP_("map", "Check a proposed site"),
    "check.operator": NP_("map", "Operator"),
    "check.mount": NP_("map", "Mount"),
    "check.mastHeight": NP_("map", "Mast height (m)"),
    "check.buildingHeight": NP_("map", "Building height (m)"),
    "check.reach": NP_("map", "Reach (m)"),
    "check.camouflaged": NP_("map", "Camouflaged"),
    "check.submit": NP_("map", "Check"),
    "check.running": NP_("map", "Checking…"),
    "check.derived": NP_("map", "Derived class"),
    "check.ok": NP_("map", "No planning findings"),
    "check.colocation": NP_("map", "Co-location candidates"),
    "check.failed": NP_("map", "Check failed"),
    "base.osm": NP_("map", "OSM base map (online)"),
    "panel.toggle": NP_("map", "Panel"),
    "lang.title": NP_("map", "Tiếng Việt"),
    "filters.title": NP_("map", "Filters"),
    "filters.class": NP_("map", "Mast class"),
    "filters.operator": NP_("map", "Operator"),
    "filters.district": NP_("map", "District"),
    "filters.commune": NP_("map", "Commune/ward/special zone"),
    "filters.asOf": NP_("map", "Administrative units as of"),
    "filters.status": NP_("map", "Status"),
    "filters.all": NP_("map", "All"),
    "filters.findingsOnly": NP_("map", "Only sites with findings"),
    "filters.visible": NP_("map", "{n} sites shown"),
    "status.built": NP_("map", "Built"),
    "status.planned": NP_("map", "Planned"),
    "status.removed": NP_("map", "Removed"),
    "status.in_progress": NP_("map", "In progress"),
    "status.done": NP_("map", "Done"),
    "export.button": NP_("map", "Export"),
    "layers.title": NP_("map", "Layers"),
    "layer.sites": NP_("map", "BTS sites"),
    "layer.findings": NP_("map", "Violations: non-A1 masts on A1-only routes/zones"),
    "layer.warnings": NP_("map", "Warnings: spacing, declared class mismatch"),
    "layer.zones": NP_("map", "A1-only zones"),
    "layer.routes": NP_("map", "A1-only routes"),
    "layer.streets": NP_("map", "Streets"),
    "layer.cables": NP_("map", "Cables (by status)"),
    "layer.admin": NP_("map", "Administrative boundaries"),
    "stats.title": NP_("map", "Sites by commune/ward × mast class"),
    "stats.district": NP_("map", "Commune/ward"),
    "stats.illustrative": NP_("map", "Demo data: the administrative boundaries are illustrative (made up), not the real ones."),
    "stats.total": NP_("map", "Total"),
    "stats.unknown": NP_("map", "Unknown"),
    "stats.unavailable": NP_("map", "Statistics unavailable"),
    "stats.asOf": NP_("map", "Administrative units as of {date}"),
    "cables.title": NP_("map", "Cable tidy-up and undergrounding by district"),
    "cables.unavailable": NP_("map", "Cable progress unavailable"),
    "cables.km": NP_("map", "km"),
    "class.unknown": NP_("map", "Unknown"),
    "popup.site": NP_("map", "BTS site"),
    "popup.operator": NP_("map", "Operator"),
    "popup.derived": NP_("map", "Class (derived)"),
    "popup.declared": NP_("map", "Class (declared)"),
    "popup.mismatch": NP_("map", "differs from declared"),
    "popup.mount": NP_("map", "Mount"),
    "popup.mastHeight": NP_("map", "Mast height"),
    "popup.buildingHeight": NP_("map", "Building height"),
    "popup.status": NP_("map", "Status"),
    "popup.tech": NP_("map", "Technology"),
    "popup.place": NP_("map", "Location"),
    "popup.provisional": NP_("map", "provisional"),
    "popup.declaredShort": NP_("map", "declared"),
    "popup.mastShort": NP_("map", "mast"),
    "popup.buildingShort": NP_("map", "building"),
    "popup.notMet": NP_("map", "{n} rule(s) tried and not met"),
    "popup.cluster": NP_("map", "Cluster of {n} sites"),
    "popup.zoomIn": NP_("map", "Zoom in to see each site"),
    "filters.inView": NP_("map", "Too many sites match: only those in view are shown — pan the map to see the others."),
    "popup.reasons": NP_("map", "Why this class"),
    "popup.findings": NP_("map", "Findings"),
    "popup.noFindings": NP_("map", "No findings"),
    "popup.loading": NP_("map", "Loading…"),
    "popup.street": NP_("map", "Street"),
    "popup.length": NP_("map", "Length"),
    "popup.plan": NP_("map", "Plan"),
    "popup.targetYear": NP_("map", "Target year"),
    "popup.method": NP_("map", "Method"),
    "popup.policy": NP_("map", "Policy"),
    "popup.corridor": NP_("map", "Corridor"),
    "popup.kind": NP_("map", "Kind"),
    "popup.radius": NP_("map", "Radius"),
    "popup.level": NP_("map", "Level"),
    "popup.code": NP_("map", "Code"),
    "popup.distance": NP_("map", "distance"),
    "popup.legal": NP_("map", "Legal source"),
    "policy.a1_only": NP_("map", "A1 masts only"),
    "policy.a2a_allowed": NP_("map", "A2a allowed"),
    "policy.any": NP_("map", "Unrestricted"),
    "mount.ground": NP_("map", "On the ground"),
    "mount.building": NP_("map", "On a building"),
    "method.chinh_trang": NP_("map", "Tidy-up (cables bundled into brackets)"),
    "method.ha_ngam": NP_("map", "Undergrounding"),
    "method.chinh_trang_ha_ngam": NP_("map", "Tidy-up and undergrounding"),
    "severity.violation": NP_("map", "Violation"),
    "severity.warning": NP_("map", "Warning"),
    "severity.info": NP_("map", "Info"),
    "level.district": NP_("map", "District"),
    "level.commune": NP_("map", "Commune/ward/special zone"),
    "level.province": NP_("map", "Province"),
    "kind.site": NP_("map", "Site"),
    "kind.route": NP_("map", "Route"),
    "kind.street": NP_("map", "Cable street"),
    "kind.zone": NP_("map", "Zone"),
    "kind.district": NP_("map", "District"),
    "kind.commune": NP_("map", "Commune/ward/special zone"),
    "map.error": NP_("map", "Map error"),
}


@cache
def map_strings(lang: str) -> tuple[bytes, str]:
    """The map's texts in ``lang`` as JSON bytes and their strong ETag (the catalog is read once per
    process, so the table only changes with a deployment)."""
    with use_language(lang):
        table = {key: pgettext(CONTEXT, text) for key, text in MAP_STRINGS.items()}
    body = json.dumps(table, ensure_ascii=False, sort_keys=True).encode("utf-8")
    return body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
