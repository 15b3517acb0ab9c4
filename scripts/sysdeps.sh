#!/usr/bin/env bash
# Install the system packages btsplan needs, when missing: SpatiaLite for the embedded database and
# GDAL's tools (ogrinfo/ogr2ogr) used by tests and benchmarks, and (WITH_BROWSER=1) Chromium for the
# map's browser test. Root installs them with apt; anyone
# else is told the one apt command to run.
set -euo pipefail
need=()
[ -e /usr/lib/x86_64-linux-gnu/mod_spatialite.so ] || ls /usr/lib/*/mod_spatialite.so >/dev/null 2>&1 || need+=(libsqlite3-mod-spatialite)
command -v ogrinfo >/dev/null || need+=(gdal-bin)
# DOCX/PDF documents: WeasyPrint lays out with Pango; DejaVu has the Vietnamese glyphs; poppler-utils
# (pdftotext, pdftoppm) reads the PDFs back in the tests and renders page images
ls /usr/lib/*/libpango-1.0.so.0 >/dev/null 2>&1 || need+=(libpango-1.0-0 libpangoft2-1.0-0)
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf ] || need+=(fonts-dejavu-core)
command -v pdftoppm >/dev/null || need+=(poppler-utils)
if [ "${WITH_POSTGIS:-0}" = 1 ]; then
  command -v pg_ctlcluster >/dev/null || need+=(postgresql)
  ls /usr/share/postgresql/*/extension/postgis.control >/dev/null 2>&1 || need+=("postgresql-$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1 || echo 15)-postgis-3")
fi
# the map's browser test (make test) drives Debian's Chromium headless
if [ "${WITH_BROWSER:-0}" = 1 ]; then
  command -v chromium >/dev/null || need+=(chromium)
fi
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ]; then
  echo "installing system packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
else
  echo "btsplan needs system packages: ${need[*]}" >&2
  echo "install them with:  sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
