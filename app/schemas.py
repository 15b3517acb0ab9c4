"""Response and request models of the HTTP layer (OGC API Features documents, checks, stats).

They document the API in OpenAPI and validate what clients send; large responses (feature pages,
tiles, exports) are serialised directly and only *described* by these models.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


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
