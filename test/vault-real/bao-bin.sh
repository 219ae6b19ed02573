#!/bin/sh
# Prints the path of a real OpenBao server binary (`bao`) on stdout, building one if needed.
# Everything else (progress, build output) goes to stderr. Use it with the contract suite as
#   VAULT_BIN=$(sh test/vault-real/bao-bin.sh) node test/vault-real/run.mjs
#
#   1. $BAO_BIN, if set (must be executable);
#   2. `bao` on PATH;
#   3. the cached build $CACHE/openbao-$VERSION/bao;
#   4. otherwise: build OpenBao $VERSION from the Go module proxy into that cache.
#
# OpenBao's root module path is github.com/openbao/openbao (no /v2) while its release tags are
# v2.x, so the Go toolchain cannot use the tags: a release is only reachable by a pseudo-version of
# its tagged commit, v0.0.0-<commit time UTC>-<commit 12>. The table below maps releases to them.
#
# Why v2.5.0: like Vault, OpenBao's go.mod `replace`s its nested modules (./api, ./api/auth/*, ./sdk,
# and ./helper/stubbolt for github.com/boltdb/bolt); those directories have their own go.mod, so they
# are not inside the downloaded root module and the published versions the root go.mod requires are
# used instead. In v2.5.0 the in-tree api and sdk (non-test .go files) are identical to the published
# api/v2 v2.5.1 and sdk/v2 v2.5.1 its go.mod requires; in v2.6.x the in-tree sdk has code newer than
# the sdk v2.6.0 required (e.g. logical.AllOperations), in v2.5.5 and v2.4.4 too.
# Measured 2026-12-03 with go1.26.8: the module proxy refuses that pseudo-version (and so, this way,
# every OpenBao release), so on this machine the build step ends at the download:
#   go mod download -json github.com/openbao/openbao@v0.0.0-20260204155717-bcbb6036ec2b
#   -> reading https://proxy.golang.org/github.com/openbao/openbao/@v/v0.0.0-20260204155717-bcbb6036ec2b.info:
#      403 Forbidden; server response: This module version is not available.
# The build steps below are kept for a machine whose proxy serves it; BAO_BIN or a `bao` on PATH works anywhere.
# stubbolt is OpenBao's stub of the unmaintained bolt (only raft-boltdb's unused MigrateToV2 needs
# it); without the replace the real github.com/boltdb/bolt v1.3.1 is used, which builds on amd64.
#
# Environment: BAO_BIN, CLAUDE_AUTH_SYNC_BAO_VERSION (default below),
# CLAUDE_AUTH_SYNC_VAULT_CACHE (default /var/cache/claude-auth-sync, else ~/.cache/claude-auth-sync).
set -eu

VERSION="${CLAUDE_AUTH_SYNC_BAO_VERSION:-v2.5.0}"
MODULE=github.com/openbao/openbao

case "$VERSION" in
  # release tag -> pseudo-version of the tag's commit (commit bcbb6036ec2b, 2026-02-04 15:57:17 UTC)
  v2.5.0) PSEUDO=v0.0.0-20260204155717-bcbb6036ec2b ;;
  v0.0.0-*) PSEUDO="$VERSION" ;;
  *)
    printf 'bao-bin: no pseudo-version known for OpenBao %s; pass one as CLAUDE_AUTH_SYNC_BAO_VERSION=v0.0.0-<UTC yyyymmddhhmmss>-<commit12>\n' "$VERSION" >&2
    exit 1
    ;;
esac
COMMIT=${PSEUDO##*-}

say() { printf 'bao-bin: %s\n' "$*" >&2; }

if [ -n "${BAO_BIN:-}" ]; then
  if [ -x "$BAO_BIN" ]; then
    say "using BAO_BIN=$BAO_BIN"
    printf '%s\n' "$BAO_BIN"
    exit 0
  fi
  say "BAO_BIN=$BAO_BIN is not an executable file"
  exit 1
fi
if found=$(command -v bao 2>/dev/null) && [ -n "$found" ]; then
  say "using bao from PATH: $found"
  printf '%s\n' "$found"
  exit 0
fi

if [ -n "${CLAUDE_AUTH_SYNC_VAULT_CACHE:-}" ]; then
  CACHE="$CLAUDE_AUTH_SYNC_VAULT_CACHE"
elif mkdir -p /var/cache/claude-auth-sync 2>/dev/null && [ -w /var/cache/claude-auth-sync ]; then
  CACHE=/var/cache/claude-auth-sync
else
  CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/claude-auth-sync"
fi
DIR="$CACHE/openbao-$VERSION"
BIN="$DIR/bao"
if [ -x "$BIN" ]; then
  say "using cached build: $BIN"
  printf '%s\n' "$BIN"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  say "no bao on PATH, no BAO_BIN, no cached build at $BIN, and no Go toolchain to build one"
  exit 1
fi

mkdir -p "$DIR"
LOCK="$DIR/.build.lock"
exec 9>"$LOCK"
if command -v flock >/dev/null 2>&1; then
  flock 9
fi
if [ -x "$BIN" ]; then
  say "using cached build: $BIN"
  printf '%s\n' "$BIN"
  exit 0
fi

say "building $MODULE@$PSEUDO (OpenBao $VERSION) from the Go module proxy ($(go version)); the first build takes a while"
start=$(date +%s)

# If the checksum database is out of reach, exempt only OpenBao's own modules (the root, fetched by
# pseudo-version, and the nested api/sdk ones, absent from its go.sum because they were replaced) and
# github.com/boltdb/bolt (absent from go.sum because it was replaced by the stub).
sumdb_host=$(go env GOSUMDB | sed 's/[+ ].*//')
if [ "$sumdb_host" = "off" ]; then
  :
elif ! curl -fsS -m 10 -o /dev/null "https://${sumdb_host:-sum.golang.org}/latest" 2>/dev/null; then
  say "checksum database ${sumdb_host:-sum.golang.org} unreachable: exempting only $MODULE/* and github.com/boltdb/bolt via GONOSUMDB"
  GONOSUMDB="${GONOSUMDB:+$GONOSUMDB,}$MODULE,github.com/boltdb/bolt"
  export GONOSUMDB
fi

WORK="$DIR/src"
rm -rf "$WORK"
trap 'rm -rf "$WORK" "$WORK.json" "$BIN.tmp"' EXIT
(cd /tmp && GOFLAGS=-mod=mod go mod download -json "$MODULE@$PSEUDO") >"$WORK.json" || true
src=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' "$WORK.json")
if [ -z "$src" ] || [ ! -f "$src/go.mod" ]; then
  say "go mod download $MODULE@$PSEUDO did not give a source directory; go said:"
  sed -n 's/^[[:space:]]*"Error": "\(.*\)"$/\1/p' "$WORK.json" | sed 's/\\n/\n/g; s/\\t/  /g' >&2
  rm -f "$WORK.json"
  exit 1
fi
rm -f "$WORK.json"
cp -R "$src" "$WORK"
chmod -R u+w "$WORK"
cd "$WORK"

# Drop every replace that points inside the module (./api, ./sdk, ./api/auth/..., ./helper/stubbolt).
for old in $(go mod edit -json | sed -n '/"Replace"/,$p' | awk '
  /"Old": \{/ { inold = 1; next }
  inold && /"Path":/ { gsub(/[",]/, "", $2); path = $2; inold = 0; next }
  /"New": \{/ { innew = 1; next }
  innew && /"Path":/ { gsub(/[",]/, "", $2); if ($2 ~ /^\.\.?\//) print path; innew = 0 }
'); do
  say "dropping replace $old (using the published version the root go.mod requires: $(go mod edit -json | awk -v m="$old" '$0 ~ "\"Path\": \"" m "\"" { getline; gsub(/[",]/, "", $2); print $2; exit }'))"
  go mod edit -dropreplace="$old"
done

export GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=mod -p=2"
export CGO_ENABLED=0
V=${VERSION#v}
case "$V" in 0.0.0-*) V=2.0.0-HEAD ;; esac
ldflags="-s -w -checklinkname=0 -X $MODULE/version.fullVersion=$V -X $MODULE/version.GitCommit=$COMMIT"
go build -trimpath -o "$BIN.tmp" -ldflags="$ldflags" . >&2
mv "$BIN.tmp" "$BIN"
end=$(date +%s)
"$BIN" version >&2
say "built $BIN in $((end - start)) s"
printf 'version=%s module=%s@%s seconds=%s go=%s\n' "$VERSION" "$MODULE" "$PSEUDO" "$((end - start))" "$(go env GOVERSION)" >"$DIR/build-info"
printf '%s\n' "$BIN"
