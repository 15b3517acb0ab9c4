# syntax=docker/dockerfile:1
# btsplan: the API, the map, the CLI and the Dask workers, in one image.
#   docker build -t btsplan .
#   docker run --rm -p 8000:8000 -v btsplan-data:/var/lib/btsplan btsplan btsplan db upgrade
# compose.yaml runs it against PostGIS behind nginx; see docs/deploy.md.
#
# Base images are pinned to a patch tag; bump them deliberately (and rebuild for Debian security
# updates, which the apt layer picks up).
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

# ---- builder: the pinned dependency closure and the project, in a venv that is copied as is ----
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/btsplan
WORKDIR /src
# Dependencies first (their own layer, rebuilt only when the lock changes). Every wheel we need is on
# PyPI as a manylinux binary (GEOS, PROJ, GDAL, libpq and SQLite come bundled), so no compiler here.
COPY deploy/requirements.lock deploy/requirements.lock
RUN /opt/btsplan/bin/pip install --no-cache-dir --only-binary=:all: -r deploy/requirements.lock
COPY pyproject.toml README.md ./
COPY app app
COPY geodata geodata
COPY planning planning
COPY migrations migrations
# --no-deps: the lock above is the dependency set; pip check proves it satisfies pyproject's pins.
RUN /opt/btsplan/bin/pip install --no-cache-dir --no-deps . \
    && /opt/btsplan/bin/pip check \
    && /opt/btsplan/bin/btsplan --version

# ---- runtime: slim Debian with only the shared libraries and tools the product calls ----
FROM ${PYTHON_IMAGE} AS runtime
# libsqlite3-mod-spatialite: the embedded SpatiaLite backend (the pyogrio/pyproj/shapely wheels bring
# their own GDAL, PROJ, GEOS). postgresql-client: pg_dump/pg_restore for `btsplan db backup|restore`;
# bookworm ships 15, which matches the PostGIS 15 server of compose.yaml (pg_dump refuses newer servers).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libsqlite3-mod-spatialite postgresql-client \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 btsplan \
    && useradd --system --uid 10001 --gid btsplan --home-dir /var/lib/btsplan --shell /usr/sbin/nologin btsplan \
    && mkdir -p /var/lib/btsplan/uploads /var/lib/btsplan/backups \
    && chown -R btsplan:btsplan /var/lib/btsplan
COPY --from=builder /opt/btsplan /opt/btsplan
# FORWARDED_ALLOW_IPS: uvicorn trusts X-Forwarded-* only from these addresses (compose widens it to the
# nginx container so TileJSON links carry the public host and scheme).
ENV PATH=/opt/btsplan/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    BTSPLAN_DATABASE_URL=sqlite:////var/lib/btsplan/btsplan.sqlite \
    BTSPLAN_UPLOAD_DIR=/var/lib/btsplan/uploads \
    FORWARDED_ALLOW_IPS=127.0.0.1
WORKDIR /var/lib/btsplan
VOLUME ["/var/lib/btsplan"]
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4).status != 200)"]
CMD ["btsplan", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
