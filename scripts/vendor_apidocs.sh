#!/usr/bin/env bash
# Vendor Swagger UI (npm `swagger-ui-dist`) and ReDoc (npm `redoc`) into app/static/vendor/ so /docs
# and /redoc work offline and under the same strict Content-Security-Policy as the map (script-src
# 'self': app/static/apidocs/ starts them from files, not inline scripts). The result is committed;
# run this script only to change a version. `npm pack` checks each tarball against the registry's
# integrity hash.
#
#   bash scripts/vendor_apidocs.sh
#   SWAGGER_UI_VERSION=5.35.0 REDOC_VERSION=2.5.4 bash scripts/vendor_apidocs.sh
#
# Source maps are left out (the trailing sourceMappingURL comments are dropped with them). ReDoc's
# sidebar shows a "by Redocly" logo fetched from cdn.redoc.ly (it hides itself when the image fails):
# its URL is emptied here so the page never asks a remote host for anything. ReDoc stays on 2.x:
# 3.x adds telemetry to redocly.com and is an ES module twice the size.
set -euo pipefail
cd "$(dirname "$0")/.."
SWAGGER_UI_VERSION=${SWAGGER_UI_VERSION:-5.35.0}
REDOC_VERSION=${REDOC_VERSION:-2.5.4}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# vendor NAME VERSION DEST FILE... : copy dist files of one npm package, with its licence
vendor() {
  local name=$1 version=$2 dest=$3
  shift 3
  mkdir -p "$tmp/$name"
  ( cd "$tmp/$name" && npm pack --silent "${name}@${version}" >/dev/null && tar -xzf ./*.tgz )
  local pkg="$tmp/$name/package"
  local got
  got=$(node -p "require('$pkg/package.json').version")
  [ "$got" = "$version" ] || { echo "expected $name $version, got $got" >&2; exit 1; }
  rm -rf "$dest"
  mkdir -p "$dest"
  local names=()
  for f in "$@"; do
    # only a file's own trailing source-map comment goes (bundles hold such text in strings too)
    sed -e '$s#^//\# sourceMappingURL=.*$##' -e '$s#/\*\# sourceMappingURL=[^*]*\*/$##' \
        -e 's#https://cdn\.redoc\.ly/redoc/logo-mini[a-z-]*\.svg##g' "$pkg/$f" >"$dest/$(basename "$f")"
    names+=("$(basename "$f")")
  done
  for f in LICENSE NOTICE; do
    [ -f "$pkg/$f" ] && cp "$pkg/$f" "$dest/$f.txt" && names+=("$f.txt")
  done
  echo "$version" >"$dest/VERSION"
  (cd "$dest" && sha256sum "${names[@]}" >SHA256SUMS)
  echo "vendored $name $version into $dest"
}

vendor swagger-ui-dist "$SWAGGER_UI_VERSION" app/static/vendor/swagger-ui \
  swagger-ui-bundle.js swagger-ui-bundle.js.LICENSE.txt swagger-ui.css
vendor redoc "$REDOC_VERSION" app/static/vendor/redoc \
  bundles/redoc.standalone.js bundles/redoc.standalone.js.LICENSE.txt
ls -l app/static/vendor/swagger-ui app/static/vendor/redoc
