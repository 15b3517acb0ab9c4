"""What people read for each vocabulary value (``building`` → "trên công trình"), in either language.

The values themselves (``planning.vocab``) stay the codes that imports, the API and scripts use; these
tables give the words exports, documents, the CLI and the map show in their place. One table per
vocabulary, marked for the catalog with ``N_`` and translated where shown, so a label is spelled once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from planning.i18n import N_, label as _label

MOUNT: Final[dict[str, str]] = {"building": N_("on a building"), "ground": N_("on the ground")}
SITE_STATUS: Final[dict[str, str]] = {"planned": N_("planned"), "built": N_("built"), "removed": N_("removed")}
SEVERITY: Final[dict[str, str]] = {"violation": N_("violation"), "warning": N_("warning"), "info": N_("information")}
CHECK: Final[dict[str, str]] = {
    "a1-routes": N_("A1-only routes and zones"), "spacing": N_("distance between masts"),
    "class-mismatch": N_("declared class differs from the rules"), "inspection": N_("site inspection"),
}
POLICY: Final[dict[str, str]] = {"a1_only": N_("A1 masts only"), "a2a_allowed": N_("A1 and A2a masts only"),
                                 "any": N_("unrestricted")}
SEGMENT_STATUS: Final[dict[str, str]] = {"planned": N_("not started"), "in_progress": N_("in progress"),
                                         "done": N_("done")}
CABLE_METHOD: Final[dict[str, str]] = {"chinh_trang": N_("tidy-up (cables bundled into brackets)"),
                                       "ha_ngam": N_("undergrounding"),
                                       "chinh_trang_ha_ngam": N_("tidy-up and undergrounding")}
CLASS: Final[dict[str, str]] = {"unknown": N_("undetermined")}
PLAN_STATUS: Final[dict[str, str]] = {
    "draft": N_("draft"), "submitted": N_("submitted"), "under_review": N_("under appraisal"),
    "approved": N_("approved"), "returned": N_("returned for completion"), "rejected": N_("rejected"),
}
ITEM_KIND: Final[dict[str, str]] = {
    "new_site": N_("new site"), "change_site": N_("change to a site"), "remove_site": N_("site removal"),
    "share_site": N_("sharing a site"), "cable_route": N_("cable route"),
}
BOOL: Final[dict[str, str]] = {"true": N_("yes"), "false": N_("no")}

#: field name → the table of its values' labels (exports translate these columns)
BY_FIELD: Final[dict[str, Mapping[str, str]]] = {
    "mount": MOUNT, "status": SITE_STATUS, "severity": SEVERITY, "check": CHECK, "policy": POLICY,
    "method": CABLE_METHOD, "derived_class": CLASS, "declared_class": CLASS,
}


def label(field: str, value: Any, table: Mapping[str, str] | None = None) -> Any:
    """The label of ``value`` of ``field`` in the current language (the value when it has none)."""
    return _label(value, table if table is not None else BY_FIELD.get(field, {}))
