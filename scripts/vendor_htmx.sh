#!/usr/bin/env bash
# Vendor htmx (npm package `htmx.org`) into app/static/vendor/htmx/ for the staff workspace's partial
# page updates, so the workspace works offline and never asks a CDN for code. The result is
# committed; run this script only to change the version. `npm pack` checks the tarball against the
# registry's integrity hash.
#
#   bash scripts/vendor_htmx.sh            # the pinned version below
#   HTMX_VERSION=2.0.11 bash scripts/vendor_htmx.sh
#
# The ES-module build (htmx.esm.js) is imported by app/static/js/workspace/*.js, so no inline script
# is needed under the strict CSP.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=${HTMX_VERSION:-2.0.11}
DEST=app/static/vendor/htmx
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
( cd "$tmp" && npm pack --silent "htmx.org@${VERSION}" >/dev/null )
tar -xzf "$tmp/htmx.org-${VERSION}.tgz" -C "$tmp"
pkg="$tmp/package"
got=$(node -p "require('$pkg/package.json').version")
[ "$got" = "$VERSION" ] || { echo "expected htmx.org $VERSION, got $got" >&2; exit 1; }
rm -rf "$DEST"
mkdir -p "$DEST"
sed -e '/^\/\/# sourceMappingURL=/d' "$pkg/dist/htmx.esm.js" >"$DEST/htmx.esm.js"
cp "$pkg/LICENSE" "$DEST/LICENSE"
echo "$VERSION" >"$DEST/VERSION"
(cd "$DEST" && sha256sum htmx.esm.js LICENSE >SHA256SUMS)
echo "vendored htmx.org $VERSION into $DEST"
ls -l "$DEST"
