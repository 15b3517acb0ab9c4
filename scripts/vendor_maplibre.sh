#!/usr/bin/env bash
# Vendor MapLibre GL JS (npm package `maplibre-gl`) into app/static/vendor/maplibre-gl/ so the map
# page works offline and never asks a CDN for code. The result is committed; run this script only to
# change the version. `npm pack` checks the tarball against the registry's integrity hash.
#
#   bash scripts/vendor_maplibre.sh            # the pinned version below
#   MAPLIBRE_VERSION=6.17.0 bash scripts/vendor_maplibre.sh
#
# MapLibre 6 ships ES modules only: maplibre-gl.mjs loads maplibre-gl-worker.mjs from its own
# directory (same origin, so the CSP needs no blob: worker). Source maps are left out (27 MB).
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=${MAPLIBRE_VERSION:-6.17.0}
DEST=app/static/vendor/maplibre-gl
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
( cd "$tmp" && npm pack --silent "maplibre-gl@${VERSION}" >/dev/null )
tar -xzf "$tmp/maplibre-gl-${VERSION}.tgz" -C "$tmp"
pkg="$tmp/package"
got=$(node -p "require('$pkg/package.json').version")
[ "$got" = "$VERSION" ] || { echo "expected maplibre-gl $VERSION, got $got" >&2; exit 1; }
rm -rf "$DEST"
mkdir -p "$DEST"
for f in maplibre-gl.mjs maplibre-gl-worker.mjs maplibre-gl.css; do
  # drop the trailing sourceMappingURL comment: the maps are not vendored
  sed -e '/^\/\/# sourceMappingURL=/d' "$pkg/dist/$f" >"$DEST/$f"
done
cp "$pkg/LICENSE.txt" "$DEST/LICENSE.txt"
echo "$VERSION" >"$DEST/VERSION"
(cd "$DEST" && sha256sum maplibre-gl.mjs maplibre-gl-worker.mjs maplibre-gl.css LICENSE.txt >SHA256SUMS)
echo "vendored maplibre-gl $VERSION into $DEST"
ls -l "$DEST"
