"""Response and request models of the HTTP layer (OGC API Features documents, checks, stats).

They document the API in OpenAPI and validate what clients send; large responses (feature pages,
tiles, exports) are serialised directly and only *described* by these models.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from planning.vocab import Severity

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_text(value: Any) -> Any:
    """Dates only as ISO text: pydantic's lax mode would read 0 or "0" as 1970-01-01."""
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value.strip()):
        raise ValueError("must be an ISO date (YYYY-MM-DD)")
    return value.strip()


#: A calendar date that clients must write as ``YYYY-MM-DD`` (query parameters and bodies alike).
IsoDate = Annotated[dt.date, BeforeValidator(_iso_text)]


# --------------------------------------------------------------------------------------------
# OGC API Features
# --------------------------------------------------------------------------------------------

class Link(BaseModel):
    href: str
    rel: str
    type: str | None = None
    title: str | None = None


class LandingPage(BaseModel):
    title: str
    description: str
    links: list[Link]


class Conformance(BaseModel):
    conformsTo: list[str]  # noqa: N815 — OGC member name


class SpatialExtent(BaseModel):
    bbox: list[list[float]]
    crs: str = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"


class TemporalExtent(BaseModel):
    interval: list[list[str | None]]
    trs: str = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"


class Extent(BaseModel):
    spatial: SpatialExtent | None = None
    temporal: TemporalExtent | None = None


class Collection(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: str
    title: str
    description: str
    links: list[Link]
    extent: Extent | None = None
    itemType: str = "feature"  # noqa: N815
    crs: list[str]
    storageCrs: str  # noqa: N815


class Collections(BaseModel):
    links: list[Link]
    collections: list[Collection]


class FeatureCollectionDoc(BaseModel):
    """Shape of an ``/items`` page (GeoJSON FeatureCollection with OGC paging members)."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[dict[str, Any]]
    numberMatched: int | None = Field(None, description="Omitted when above 100,000 (not counted)")  # noqa: N815
    numberReturned: int  # noqa: N815
    timeStamp: str  # noqa: N815
    links: list[Link]


# --------------------------------------------------------------------------------------------
# planning checks (docs/architecture.md, "Field names" and "Machine-readable outputs")
# --------------------------------------------------------------------------------------------

class Finding(BaseModel):
    """One finding; ``zone`` or ``route`` names the A1 area, ``other_site_code`` the nearest mast."""

    model_config = ConfigDict(extra="allow")

    check: str
    rule: str
    severity: Severity
    site_code: str | None = None
    operator: str | None = None
    zone: str | None = None
    route: str | None = None
    other_site_code: str | None = None
    distance_m: float | None = None
    district: str | None = None
    commune: str | None = None
    legal_source: str | None = None
    message: str | None = None


class SiteCheckResult(BaseModel):
    model_config = ConfigDict(extra="allow")

    derived_class: str = Field(description="A1a … A2c, or unknown when inputs are missing")
    declared_class: str | None = None
    class_mismatch: bool
    ambiguous: bool
    reasons: list[dict[str, Any]] = Field(description="Which rule matched, with which inputs")
    findings: list[Finding]
    colocation_candidates: list[dict[str, Any]] = Field(description="Existing masts to share instead of building")
    location: dict[str, Any] = Field(description="lon/lat, metric x_m/y_m, district and commune")
    rule_pack: dict[str, Any]
    data_version: int | None = None


class FindingsPage(BaseModel):
    check: str
    findings: list[Finding]
    count: int | None = Field(description="All matching findings (omitted above 100,000)")
    returned: int
    limit: int
    offset: int
    next: str | None = Field(None, description="URL of the next page, when there is one")


class CheckRun(BaseModel):
    check: str
    count: int
    seconds: float
    rule_pack: dict[str, Any]
