#!/bin/sh
# Prints the path of a real Vault (or OpenBao) server binary on stdout, building one if needed.
# Everything else (progress, build output) goes to stderr.
#
#   1. $VAULT_BIN, if set (must be executable);
#   2. `vault`, then `bao`, on PATH;
#   3. the cached build $CACHE/vault-$VERSION/vault;
#   4. otherwise: build HashiCorp Vault $VERSION from the Go module proxy into that cache.
#
# The build: the pinned module is downloaded, copied out of the read-only module cache, its
# nested api/sdk `replace` directives dropped (so the published versions the root go.mod
# requires are used), the missing go.sum lines added by `-mod=mod`, and only the main package
# built. Nothing is written inside the repository.
#
# Why v1.19.0: a release builds this way only if its code matches the published api/sdk versions its
# go.mod requires; HashiCorp tags those nested modules before a release and backports into the in-tree
# copy afterwards, and the proxy serves published versions only, not the tag's own commit. v1.19.0
# (sdk v0.15.2, tagged 6 days before it) builds and runs. Measured here with go1.26, the others fail:
#   v1.14.10 (sdk v0.10.2): "*pluginEventBus does not implement logical.EventSender (missing method SendEvent)"
#   v1.14.8  (sdk v0.9.2):  "undefined: logical.CtxKeyRequestRole", "undefined: physical.FencingHABackend"
#   v1.14.2  (sdk v0.9.2):  builds, but `server -dev` panics: "Pattern managed-keys/... defines a
#                           CreateOperation but no ExistenceCheck"
#   v1.14.1  (sdk v0.9.2-0.20230530190758-08ee474850e0): "undefined: certutil.ParseBasicConstraintExtension"
#   v1.15.0  (sdk v0.10.0): "module .../plugincontainer@latest found (v0.5.0), but does not contain
#                           package .../plugincontainer/config"
#   v1.19.5  (sdk v0.15.2): "undefined: consts.PluginTier"
# So the MPL-2.0 1.14 line is out of reach this way; Vault 1.19 is BSL-licensed, fine for running tests.
#
# Environment: VAULT_BIN, CLAUDE_AUTH_SYNC_VAULT_VERSION (default below),
# CLAUDE_AUTH_SYNC_VAULT_CACHE (default /var/cache/claude-auth-sync, else ~/.cache/claude-auth-sync).
set -eu

VERSION="${CLAUDE_AUTH_SYNC_VAULT_VERSION:-v1.19.0}"
MODULE=github.com/hashicorp/vault

say() { printf 'vault-bin: %s\n' "$*" >&2; }

if [ -n "${VAULT_BIN:-}" ]; then
  if [ -x "$VAULT_BIN" ]; then
    say "using VAULT_BIN=$VAULT_BIN"
    printf '%s\n' "$VAULT_BIN"
    exit 0
  fi
  say "VAULT_BIN=$VAULT_BIN is not an executable file"
  exit 1
fi
for name in vault bao; do
  if found=$(command -v "$name" 2>/dev/null) && [ -n "$found" ]; then
    say "using $name from PATH: $found"
    printf '%s\n' "$found"
    exit 0
  fi
done

if [ -n "${CLAUDE_AUTH_SYNC_VAULT_CACHE:-}" ]; then
  CACHE="$CLAUDE_AUTH_SYNC_VAULT_CACHE"
elif mkdir -p /var/cache/claude-auth-sync 2>/dev/null && [ -w /var/cache/claude-auth-sync ]; then
  CACHE=/var/cache/claude-auth-sync
else
  CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/claude-auth-sync"
fi
DIR="$CACHE/vault-$VERSION"
BIN="$DIR/vault"
if [ -x "$BIN" ]; then
  say "using cached build: $BIN"
  printf '%s\n' "$BIN"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  say "no vault/bao on PATH, no VAULT_BIN, no cached build at $BIN, and no Go toolchain to build one"
  exit 1
fi

mkdir -p "$DIR"
# One build at a time per version (a second caller waits, then finds the binary).
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

say "building $MODULE@$VERSION from the Go module proxy ($(go version)); the first build takes a while"
start=$(date +%s)

# The checksum database may be unreachable from CI; the go.sum shipped in Vault's module covers
# its dependencies, so only Vault's own modules (the root and the nested api/sdk ones, which the
# go.sum lacks because they were `replace`d) are exempted, and only when sum.golang.org is out of
# reach.
sumdb_host=$(go env GOSUMDB | sed 's/[+ ].*//')
if [ "$sumdb_host" = "off" ]; then
  :
elif ! curl -fsS -m 10 -o /dev/null "https://${sumdb_host:-sum.golang.org}/latest" 2>/dev/null; then
  say "checksum database ${sumdb_host:-sum.golang.org} unreachable: exempting only $MODULE/* via GONOSUMDB"
  GONOSUMDB="${GONOSUMDB:+$GONOSUMDB,}$MODULE"
  export GONOSUMDB
fi

WORK="$DIR/src"
rm -rf "$WORK"
# A failed build leaves neither sources nor a half-written binary behind.
trap 'rm -rf "$WORK" "$BIN.tmp"' EXIT
src=$(cd /tmp && GOFLAGS=-mod=mod go mod download -json "$MODULE@$VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
if [ -z "$src" ] || [ ! -f "$src/go.mod" ]; then
  say "go mod download $MODULE@$VERSION did not give a source directory"
  exit 1
fi
cp -R "$src" "$WORK"
chmod -R u+w "$WORK"
cd "$WORK"

# Drop every replace that points inside the module (./api, ./sdk, ./api/auth/...).
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
ldflags="-s -w -checklinkname=0"
go build -trimpath -o "$BIN.tmp" -ldflags="$ldflags" . >&2
mv "$BIN.tmp" "$BIN"
end=$(date +%s)
"$BIN" version >&2
say "built $BIN in $((end - start)) s"
printf 'version=%s seconds=%s go=%s\n' "$VERSION" "$((end - start))" "$(go env GOVERSION)" >"$DIR/build-info"
printf '%s\n' "$BIN"
