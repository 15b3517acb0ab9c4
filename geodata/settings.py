"""One settings object for the whole product, read from ``BTSPLAN_*`` variables and ``.env``.

Kept in ``geodata`` because the database URL and the metric CRS are storage concerns; the web
layer and the CLI both read the same object so they can never disagree about which database or
CRS is in use.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from sqlalchemy.engine import make_url
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def default_home() -> Path:
    """Where the data lives when ``BTSPLAN_HOME`` is not set: the checkout itself when btsplan runs from
    one (so ``make run`` and the CLI share ``data/btsplan.sqlite`` whatever folder the CLI is started
    from), else the platform's data folder (``$XDG_DATA_HOME/btsplan``, ``~/.local/share/btsplan``)
    because an installed package's folder is not writable and not the user's."""
    checkout = Path(__file__).resolve().parents[1]
    if (checkout / "pyproject.toml").is_file() and (checkout / "migrations").is_dir():
        return checkout
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "btsplan"


def _under_home(home: Path, url: str) -> str:
    """A relative SQLite path means the same file from every working directory: the one under the home."""
    try:
        u = make_url(url)
    except Exception:  # noqa: BLE001 — a malformed URL is reported, in one line, where an engine is made
        return url
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:" \
            or Path(u.database).is_absolute():
        return url
    return u.set(database=str(home / u.database)).render_as_string(hide_password=False)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BTSPLAN_", env_file=".env", extra="ignore")

    home: Path = Field(
        default_factory=default_home,
        description="Folder the data lives under: relative SQLite URLs and upload_dir resolve against it, so "
                    "every command finds the same database from any working directory. Default: the checkout "
                    "when run from one, else $XDG_DATA_HOME/btsplan (~/.local/share/btsplan)")
    database_url: str = Field(
        default="sqlite:///data/btsplan.sqlite",
        description="SQLAlchemy URL: sqlite:///path (SpatiaLite; a relative path is under home) or "
                    "postgresql+psycopg://user:pass@host/db (PostGIS)",
    )
    migrate_database_url: str | None = Field(
        default=None,
        description="URL of the role that owns the schema, used by `btsplan db upgrade|downgrade|backup|restore`; "
                    "on PostGIS the application's own role (database_url) then gets only the privileges it "
                    "needs. Empty = database_url")
    province: str = Field(
        default="haiphong",
        description="Registry key of the province (planning/data/provinces.yaml, e.g. haiphong, danang, hungyen; "
                    "pre- or post-2025-reform): its rule pack, TM-3 zone and fallback extent")
    authority: str = Field(
        default="Sở Khoa học và Công nghệ thành phố Hải Phòng",
        description="Issuing department printed in the header of appraisal documents and statistics tables")
    authority_parent: str = Field(
        default="UBND THÀNH PHỐ HẢI PHÒNG",
        description="Governing body printed above the issuing department (line 1 of the header, Decree 30/2020)")
    authority_place: str = Field(default="Hải Phòng", description="Place name before the date of issued documents")
    lang: Literal["vi", "en"] = Field(
        default="vi", description="Language of messages, reports and exports when a request or command names "
                                  "none (`?lang=`, `Accept-Language`, `btsplan --lang`)")
    metric_crs: str = Field(
        default="",
        description="Projected CRS for distances, lengths, buffers. Empty: the province's VN-2000 / TM-3 zone "
                    "(EPSG:9210 for haiphong)")
    statement_timeout_ms: int = Field(default=30_000, ge=100, description="PostGIS statement timeout")
    max_upload_bytes: int = Field(default=50 * 1024 * 1024, ge=1024)
    max_import_rows: int = Field(default=2_000_000, ge=1)
    cors_origins: list[str] = Field(default_factory=list, description="Allowed CORS origins; empty = CORS off")
    public_url: str | None = Field(
        default=None,
        description="Base URL the service is published at (https://gis.example.gov.vn/btsplan); every link, "
                    "paging URL and TileJSON is built from it. Empty: from the request's Host when it is in "
                    "allowed_hosts, else from the address the server listens on")
    allowed_hosts: list[str] = Field(
        default_factory=lambda: ["localhost", "127.0.0.1", "::1"],
        description="Host names (without port) whose Host header may be echoed in links when public_url is empty")
    tile_cache_bytes: int = Field(default=256 * 1024 * 1024, ge=0)
    report_cache_bytes: int = Field(default=64 * 1024 * 1024, ge=0,
                                    description="Rendered appraisal reports kept per process; 0 = off")
    write_rate_per_minute: float = Field(default=120.0, gt=0, description="Sustained write requests per API key")
    write_burst: int = Field(default=30, ge=1, description="Write requests an API key may make in a burst")
    anonymous_write_rate_per_minute: float = Field(
        default=60.0, gt=0, description="Sustained anonymous write requests (POST /checks/site) per client address")
    anonymous_write_burst: int = Field(
        default=30, ge=1, description="Anonymous write requests a client address may make in a burst")
    expensive_read_rate_per_minute: float = Field(
        default=20.0, gt=0, description="Sustained expensive reads (plan reports, exports) per API key, "
                                        "or per client address without one")
    expensive_read_burst: int = Field(
        default=10, ge=1, description="Expensive reads an API key (or client address) may make in a burst")
    session_hours: float = Field(default=10.0, gt=0, description="How long a staff sign-in lasts (a working day)")
    session_idle_minutes: float = Field(default=60.0, gt=0,
                                        description="A staff session unused this long is over, whatever its age")
    signin_max_failures: int = Field(default=5, ge=1, description="Failed sign-ins before an account is locked")
    signin_lockout_minutes: float = Field(default=15.0, gt=0, description="How long a locked account stays locked")
    max_plan_bytes: int = Field(default=5 * 1024 * 1024, ge=1024, description="Largest plan submission body")
    max_plan_features: int = Field(default=5000, ge=1, description="Most items in one plan submission")
    upload_dir: str = Field(default="data/uploads",
                            description="Where inspection photos are stored (a relative path is under home)")
    max_photo_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, description="Largest inspection photo")
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024,
                                description="Largest request body of every route but plans and photos")
    header_timeout_s: float = Field(default=10.0, gt=0,
                                    description="Seconds a client may take to send a request's headers "
                                                "(`btsplan serve`), against slowloris")
    built_match_m: float = Field(default=100.0, gt=0, description="A built site this close fulfils a planned one")
    read_database_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated URLs of PostGIS read replicas; tiles, features and stats read there "
                    "(empty = everything on database_url)")
    dask_scheduler: str | None = Field(
        default=None, description="Dask scheduler address (tcp://host:8786) for --engine dask; empty = a LocalCluster")
    dask_workers: int = Field(default=2, ge=1, description="Workers of the LocalCluster started for --engine dask")
    dask_worker_memory: str = Field(default="4GiB", description="Memory limit of each LocalCluster worker")
    warm_check_context: bool = Field(
        default=False, description="Build the planning context of POST /checks/site in the background when a "
                                   "server process starts, so no first check waits for it (`btsplan serve` "
                                   "turns it on)")

    @property
    def owner_database_url(self) -> str:
        """The URL schema changes, backups and restores run with."""
        return self.migrate_database_url or self.database_url

    @field_validator("province")
    @classmethod
    def _known_province(cls, value: str) -> str:
        """Refuse an unknown province at start-up, listing the known keys (a typo would otherwise
        surface as Hải Phòng's rules applied elsewhere)."""
        from planning.provinces import province

        return province(value).key

    @model_validator(mode="after")
    def _province_metric_crs(self) -> Settings:
        """Default the metric CRS to the province's TM-3 zone, so distances in Đà Nẵng are not
        measured in Hải Phòng's zone."""
        from geodata.crs import province_metric_crs

        if not self.metric_crs.strip():
            self.metric_crs = province_metric_crs(self.province)
        return self

    @model_validator(mode="after")
    def _resolve_under_home(self) -> Settings:
        self.home = self.home.expanduser().resolve()
        self.database_url = _under_home(self.home, self.database_url)
        if self.migrate_database_url:
            self.migrate_database_url = _under_home(self.home, self.migrate_database_url)
        if not Path(self.upload_dir).expanduser().is_absolute():
            self.upload_dir = str(self.home / self.upload_dir)
        return self

    @field_validator("read_database_urls", mode="before")
    @classmethod
    def _split_urls(cls, value: object) -> object:
        """``BTSPLAN_READ_DATABASE_URLS=url1,url2`` (a JSON list is accepted too)."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                import json

                return json.loads(text)
            return [u.strip() for u in text.split(",") if u.strip()]
        return value


@lru_cache
def get_settings() -> Settings:
    """The process's settings; the home's ``.env`` is read too (the working directory's wins), so a
    checkout's configuration applies to commands started from any folder."""
    home = Path(os.environ.get("BTSPLAN_HOME") or default_home()).expanduser()
    return Settings(_env_file=(home / ".env", ".env"))  # type: ignore[call-arg]
