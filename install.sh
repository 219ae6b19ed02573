#!/usr/bin/env bash
# install.sh: puts claude-auth-sync on a workstation (the contract's "Install layout"), or takes it off.
#
# Two phases: every check first (sources, binary, targets), then the changes, each one reported.
# Everything it writes is listed in a manifest with its checksum, and every system file it changes
# (the PAM stack, a file it had to replace) is backed up byte-for-byte first, so --uninstall removes
# exactly what was installed and gives the rest back as it was. Running it again changes nothing.
set -euo pipefail
umask 022

readonly PROG=install.sh
SRC=$(cd "$(dirname "$0")" && pwd -P)
readonly SRC
# The shipped units and PAM line name this binary; another --prefix rewrites it.
readonly SHIPPED_BINARY=/usr/local/bin/claude-auth
readonly STATE_DIR=/var/lib/claude-auth-sync
readonly MANIFEST=$STATE_DIR/install-manifest
readonly BACKUP_DIR=$STATE_DIR/install-backup
readonly CONFIG=/etc/claude-auth-sync/config.env
readonly UNIT_DIR=/etc/systemd/system
# Debian's global zshenv (zsh-common's conffile): read by every zsh, so a line there reaches zsh -c too.
readonly ZSHENV=/etc/zsh/zshenv

PREFIX=/usr/local
ROOT=
PAM=0
PAM_FILE=/etc/pam.d/common-session
PAM_AUTH=0
PAM_AUTH_FILE=/etc/pam.d/common-auth
BINARY=
DRY_RUN=0
UNINSTALL=0

usage() {
  cat <<EOF
Usage: ./install.sh [options]          install claude-auth-sync (as root)
       ./install.sh --uninstall        remove exactly what install.sh installed

Options:
  --prefix DIR      where bin/ and share/ go (default /usr/local); units and the PAM line follow it
  --binary PATH     install this release binary instead of the built dist/claude-auth
  --pam             add the login hook to the PAM session stack (default file $PAM_FILE)
  --pam-file PATH   the PAM file to add it to (implies --pam)
  --pam-auth        enroll users' own Vault tokens at a password login: the auth line after the
                    password module (default file $PAM_AUTH_FILE); pair it with --pam
  --pam-auth-file PATH  the PAM auth file to add it to (implies --pam-auth)
  --root DIR        install into a staging root: every path is prefixed with DIR (no daemon-reload)
  --dry-run         print each action, change nothing
  --uninstall       remove what the manifest lists; restore changed system files byte-for-byte;
                    disable every enabled claude-auth-sync@<user> unit; again: "nothing to uninstall"
  -h, --help        this text

Installs \$PREFIX/bin/claude-auth, \$PREFIX/bin/start-claude, \$PREFIX/share/claude-auth-sync/
(snippet, Prometheus rules, runbook.md), /etc/profile.d/claude-auth.sh, /etc/fish/conf.d/claude-auth.fish,
$CONFIG (template, never overwritten), the systemd units claude-auth-sync@.service/.timer
and the t3-serve@.service.d drop-in, and adds one line to $ZSHENV (when zsh is installed) that
sources the snippet in every zsh. The manifest is $MANIFEST.
EOF
}

die() {
  printf '%s: error: %s\n' "$PROG" "$1" >&2
  if [ -n "${2:-}" ]; then printf '  fix: %s\n' "$2" >&2; fi
  exit 1
}

usage_error() {
  printf '%s: %s (see ./install.sh --help)\n' "$PROG" "$1" >&2
  exit 2
}

warn() { printf '  warning: %s\n' "$1" >&2; }

CHANGED=0
# One line per action: "installed /path", or "would install /path" with --dry-run.
report() { # done-verb dry-run-verb path [detail]
  local verb=$1
  if [ "$DRY_RUN" = 1 ]; then verb="would $2"; fi
  printf '  %-22s %s%s\n' "$verb" "$3" "${4:+ ($4)}"
}
changed() { # like report, and counts as a change
  CHANGED=1
  report "$@"
}
same() { printf '  %-22s %s%s\n' "$1" "$2" "${3:+ ($3)}"; }

sha() { sha256sum <"$1" | cut -d' ' -f1; }

# ---------------------------------------------------------------------------------------------
# Options
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) [ $# -ge 2 ] || usage_error "--prefix needs a directory"; PREFIX=$2; shift ;;
    --prefix=*) PREFIX=${1#*=} ;;
    --root) [ $# -ge 2 ] || usage_error "--root needs a directory"; ROOT=$2; shift ;;
    --root=*) ROOT=${1#*=} ;;
    --binary) [ $# -ge 2 ] || usage_error "--binary needs a path"; BINARY=$2; shift ;;
    --binary=*) BINARY=${1#*=} ;;
    --pam) PAM=1 ;;
    --pam-file) [ $# -ge 2 ] || usage_error "--pam-file needs a path"; PAM_FILE=$2; PAM=1; shift ;;
    --pam-file=*) PAM_FILE=${1#*=}; PAM=1 ;;
    --pam-auth) PAM_AUTH=1 ;;
    --pam-auth-file) [ $# -ge 2 ] || usage_error "--pam-auth-file needs a path"; PAM_AUTH_FILE=$2; PAM_AUTH=1; shift ;;
    --pam-auth-file=*) PAM_AUTH_FILE=${1#*=}; PAM_AUTH=1 ;;
    --dry-run) DRY_RUN=1 ;;
    --uninstall) UNINSTALL=1 ;;
    -h | --help) usage; exit 0 ;;
    *) usage_error "unknown option: $1" ;;
  esac
  shift
done

# Paths end up in unit files and a PAM line, which split on whitespace: keep them plain.
plain_path() { case "$1" in /*) ;; *) return 1 ;; esac; [[ "$1" =~ ^[A-Za-z0-9._/+@-]+$ ]]; }
plain_path "$PREFIX" || usage_error "--prefix must be an absolute path of letters, digits and ._/+@- (got '$PREFIX')"
PREFIX=${PREFIX%/}
[ -n "$PREFIX" ] || PREFIX=/
plain_path "$PAM_FILE" || usage_error "--pam-file must be an absolute path of letters, digits and ._/+@- (got '$PAM_FILE')"
plain_path "$PAM_AUTH_FILE" || usage_error "--pam-auth-file must be an absolute path of letters, digits and ._/+@- (got '$PAM_AUTH_FILE')"
[ "$PAM_AUTH" = 0 ] || [ "$PAM" = 0 ] || [ "$PAM_AUTH_FILE" != "$PAM_FILE" ] ||
  usage_error "--pam-auth-file and --pam-file must be different files (the auth and the session stack)"
if [ -n "$ROOT" ]; then
  [ -d "$ROOT" ] || die "--root $ROOT is not a directory" "create it first"
  ROOT=$(cd "$ROOT" && pwd -P)
  [ "$ROOT" = / ] && ROOT=
  case "$ROOT" in *$'\n'* | *$'\t'*) usage_error "--root must not contain tabs or newlines" ;; esac
fi
if [ -n "$BINARY" ]; then
  case "$BINARY" in /*) ;; *) BINARY=$PWD/$BINARY ;; esac
fi
BIN_DIR=${PREFIX%/}/bin
SHARE_DIR=${PREFIX%/}/share/claude-auth-sync
INSTALLED_BINARY=$BIN_DIR/claude-auth
IS_ROOT=0
[ "$(id -u)" = 0 ] && IS_ROOT=1

command -v sha256sum >/dev/null || die "sha256sum is missing" "apt-get install coreutils"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/claude-auth-install.XXXXXX")
# Set once the checks have passed: a failure after that (disk full, ...) says what state it left.
ACTING=
on_exit() {
  local status=$?
  rm -rf "$WORK"
  if [ "$status" != 0 ] && [ -n "$ACTING" ]; then
    printf '%s: stopped part-way while %s; %s lists what is in place\n' "$PROG" "$ACTING" "$ROOT$MANIFEST" >&2
    printf '  fix: remove the cause above, then run the same command again (both directions can be repeated)\n' >&2
  fi
  return "$status"
}
trap on_exit EXIT

# ---------------------------------------------------------------------------------------------
# The manifest: what this script installed, one tab-separated record per line (see the README).
#   prefix  DIR
#   dir     PATH                          a directory it created (removed on uninstall when empty)
#   file    SHA256  PATH                  a file it installed
#   config  SHA256  PATH                  the config template it created (kept on uninstall once edited)
#   replaced SHA256 PATH  BACKUP          a file that was there before, saved to BACKUP and replaced
#   edit    SHA256  PATH  BACKUP  LINE    a system file it added LINE to (SHA256 after the edit)
declare -A M_KIND=() M_SUM=() M_BACKUP=() M_LINE=()
M_ORDER=()
M_DIRS=()
M_PREFIX=
MANIFEST_FOUND=0

load_manifest() {
  local path=$ROOT$MANIFEST kind a b c d
  [ -e "$path" ] || return 0
  { [ -f "$path" ] && [ -r "$path" ]; } || die "cannot read the install manifest $path"
  MANIFEST_FOUND=1
  while IFS=$'\t' read -r kind a b c d; do
    case "$kind" in
      '' | '#'*) ;;
      prefix) M_PREFIX=$a ;;
      dir) M_DIRS+=("$a") ;;
      file | config | replaced | edit)
        [ -n "$b" ] || die "malformed line in $path: $kind $a" "restore the manifest, or remove the files by hand"
        M_KIND[$b]=$kind
        M_SUM[$b]=$a
        M_BACKUP[$b]=${c:-}
        M_LINE[$b]=${d:-}
        M_ORDER+=("$b")
        ;;
      *) die "unknown record '$kind' in $path" "was it written by a newer install.sh? use that one" ;;
    esac
  done <"$path"
}

record() { # kind sum path [backup] [line]
  [ -n "${M_KIND[$3]:-}" ] || M_ORDER+=("$3")
  M_KIND[$3]=$1
  M_SUM[$3]=$2
  M_BACKUP[$3]=${4:-}
  M_LINE[$3]=${5:-}
}

forget() {
  local path=$1 kept=() p
  unset "M_KIND[$path]" "M_SUM[$path]" "M_BACKUP[$path]" "M_LINE[$path]"
  for p in "${M_ORDER[@]}"; do [ "$p" = "$path" ] || kept+=("$p"); done
  M_ORDER=("${kept[@]}")
}

save_manifest() {
  [ "$DRY_RUN" = 0 ] || return 0
  local tmp=$WORK/manifest p d
  ensure_dir "$STATE_DIR"
  {
    printf '# claude-auth-sync install manifest, written by install.sh and read by install.sh --uninstall.\n'
    printf '# Paths are on the target system. Do not edit.\n'
    printf 'prefix\t%s\n' "$PREFIX"
    for d in "${M_DIRS[@]}"; do printf 'dir\t%s\n' "$d"; done
    for p in "${M_ORDER[@]}"; do
      printf '%s\t%s\t%s' "${M_KIND[$p]}" "${M_SUM[$p]}" "$p"
      case "${M_KIND[$p]}" in
        replaced) printf '\t%s' "${M_BACKUP[$p]}" ;;
        edit) printf '\t%s\t%s' "${M_BACKUP[$p]}" "${M_LINE[$p]}" ;;
      esac
      printf '\n'
    done
  } >"$tmp"
  if [ -f "$ROOT$MANIFEST" ] && cmp -s "$tmp" "$ROOT$MANIFEST"; then return 0; fi
  install_bytes "$tmp" "$MANIFEST" 0644
}

# ---------------------------------------------------------------------------------------------
# Filesystem actions (all paths are target paths; $ROOT is added here).
declare -A MADE_DIR=()

set_owner() { if [ "$IS_ROOT" = 1 ]; then chown 0:0 "$1"; fi; }

# Creates the missing directories of a target path, 0755 root, and records each one.
ensure_dir() {
  local dir=$1 part path=
  local -a parts
  IFS=/ read -r -a parts <<<"${dir#/}"
  for part in "${parts[@]}"; do
    [ -n "$part" ] || continue
    path=$path/$part
    if [ -d "$ROOT$path" ] || [ -n "${MADE_DIR[$path]:-}" ]; then continue; fi
    MADE_DIR[$path]=1
    changed "created" "create directory" "$path/"
    if [ "$DRY_RUN" = 0 ]; then
      mkdir "$ROOT$path"
      chmod 0755 "$ROOT$path"
      set_owner "$ROOT$path"
      M_DIRS+=("$path")
    fi
  done
}

# Writes a file atomically (temp file in the same directory, then rename), with mode and root owner.
install_bytes() { # source target mode
  local target=$ROOT$2 tmp
  tmp="$(dirname "$target")/.claude-auth-install.$$.$(basename "$target")"
  cp "$1" "$tmp"
  chmod "$3" "$tmp"
  set_owner "$tmp"
  mv -f "$tmp" "$target"
}

# Saves a copy of a target file (bytes, mode, owner) under BACKUP_DIR, at the file's own path.
backup_of() { printf '%s%s' "$BACKUP_DIR" "$1"; }
make_backup() {
  local backup
  backup=$(backup_of "$1")
  ensure_dir "$STATE_DIR"
  if [ ! -d "$ROOT$BACKUP_DIR" ]; then
    ensure_dir "$BACKUP_DIR"
    [ "$DRY_RUN" = 1 ] || chmod 0700 "$ROOT$BACKUP_DIR"
  fi
  ensure_dir "$(dirname "$backup")"
  [ "$DRY_RUN" = 1 ] || cp -p "$ROOT$1" "$ROOT$backup"
}

# Puts a saved copy back byte-for-byte, with its mode and owner, atomically.
restore_backup() { # target backup
  local target=$ROOT$1 tmp
  tmp="$(dirname "$target")/.claude-auth-install.$$.$(basename "$target")"
  cp -p "$ROOT$2" "$tmp"
  mv -f "$tmp" "$target"
  rm -f "$ROOT$2"
}

# Replaces a file's content keeping its mode and owner (for edits of system files).
rewrite_keeping_attrs() { # target new-content-file
  local target=$ROOT$1 tmp
  tmp="$(dirname "$target")/.claude-auth-install.$$.$(basename "$target")"
  cp "$2" "$tmp"
  chmod --reference="$target" "$tmp"
  if [ "$IS_ROOT" = 1 ]; then chown --reference="$target" "$tmp"; fi
  mv -f "$tmp" "$target"
}

daemon_reload() {
  [ "$DRY_RUN" = 0 ] && [ -z "$ROOT" ] || return 0
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
    if systemctl daemon-reload; then
      echo "  ran systemctl daemon-reload"
    else
      warn "systemctl daemon-reload failed; run it yourself"
    fi
  fi
}

# ---------------------------------------------------------------------------------------------
# Enablements of our units (what `systemctl enable claude-auth-sync@alice.timer` made): the links
# in *.wants/ and *.requires/ that would dangle once the units are gone.
unit_enablements() {
  local link
  for link in "$ROOT$UNIT_DIR"/*.wants/claude-auth-sync@* "$ROOT$UNIT_DIR"/*.requires/claude-auth-sync@*; do
    [ -L "$link" ] || [ -e "$link" ] || continue
    printf '%s\n' "${link#"$ROOT"}"
  done
}

disable_units() {
  local link name live=0 now=
  if [ -z "$ROOT" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then live=1 now=" --now"; fi
  while IFS= read -r link; do
    [ -n "$link" ] || continue
    name=$(basename "$link")
    changed "disabled" "disable" "$link" "as systemctl disable$now $name does"
    [ "$DRY_RUN" = 0 ] || continue
    if [ "$live" = 1 ]; then
      systemctl disable --now "$name" >/dev/null 2>&1 || warn "systemctl disable --now $name failed; run it yourself"
    fi
    rm -f "$ROOT$link"
  done < <(unit_enablements)
}

uninstall() {
  load_manifest
  if [ "$MANIFEST_FOUND" = 0 ]; then
    echo "Nothing to uninstall from ${ROOT:-/}: no install manifest at $ROOT$MANIFEST (not installed, or already uninstalled)."
    local left
    left=$(unit_enablements)
    [ -z "$left" ] || warn "units of claude-auth-sync are still enabled: ${left//$'\n'/ }; remove these links (systemctl disable does)"
    return 0
  fi
  local path
  for path in "${M_ORDER[@]}" "$MANIFEST"; do check_writable_dir "$(dirname "$path")"; done
  refuse_if_problems
  [ "$DRY_RUN" = 1 ] || ACTING=uninstalling
  echo "Uninstalling claude-auth-sync from ${ROOT:-/} (prefix $M_PREFIX)"
  disable_units
  local i kind sum backup now units=0 kept_backup=0
  for ((i = ${#M_ORDER[@]} - 1; i >= 0; i--)); do
    path=${M_ORDER[$i]}
    kind=${M_KIND[$path]}
    sum=${M_SUM[$path]}
    backup=${M_BACKUP[$path]}
    case "$path" in "$UNIT_DIR"/*) units=1 ;; esac
    if [ ! -e "$ROOT$path" ]; then
      same "already gone" "$path"
      continue
    fi
    now=$(sha "$ROOT$path")
    case "$kind" in
      file)
        if [ "$now" = "$sum" ]; then
          changed "removed" "remove" "$path"
          [ "$DRY_RUN" = 1 ] || rm -f "$ROOT$path"
        else
          warn "$path changed since install: left in place; remove it yourself if it is not needed"
        fi
        ;;
      config)
        if [ "$now" = "$sum" ]; then
          changed "removed" "remove" "$path" "the unedited template"
          [ "$DRY_RUN" = 1 ] || rm -f "$ROOT$path"
        else
          same "kept" "$path" "edited since install: your settings stay; delete it yourself if no longer needed"
        fi
        ;;
      replaced)
        if [ "$now" = "$sum" ]; then
          changed "restored" "restore" "$path" "the file that was there before install"
          [ "$DRY_RUN" = 1 ] || restore_backup "$path" "$backup"
        else
          warn "$path changed since install: left in place; the file it replaced is in $ROOT$backup"
          kept_backup=1
        fi
        ;;
      edit)
        if [ "$now" = "$sum" ]; then
          changed "restored" "restore" "$path" "byte-for-byte from the backup taken at install"
          [ "$DRY_RUN" = 1 ] || restore_backup "$path" "$backup"
        elif grep -qxF -- "${M_LINE[$path]}" "$ROOT$path"; then
          changed "edited" "edit" "$path" "changed since install: only the claude-auth line removed"
          if [ "$DRY_RUN" = 0 ]; then
            LINE=${M_LINE[$path]} awk '$0 != ENVIRON["LINE"]' "$ROOT$path" >"$WORK/edit"
            rewrite_keeping_attrs "$path" "$WORK/edit"
            rm -f "$ROOT$backup"
          fi
        else
          same "unchanged" "$path" "the claude-auth line is already gone"
          [ "$DRY_RUN" = 1 ] || rm -f "$ROOT$backup"
        fi
        ;;
    esac
  done
  if [ "$DRY_RUN" = 0 ]; then
    rm -f "$ROOT$MANIFEST"
    if [ -d "$ROOT$BACKUP_DIR" ] && [ "$kept_backup" = 0 ]; then
      find "$ROOT$BACKUP_DIR" -depth -type d -empty -delete
    fi
  fi
  changed "removed" "remove" "$MANIFEST"
  for ((i = ${#M_DIRS[@]} - 1; i >= 0; i--)); do
    path=${M_DIRS[$i]}
    [ -d "$ROOT$path" ] || continue
    if [ "$DRY_RUN" = 1 ]; then
      report "" "remove if empty" "$path/"
    elif rmdir "$ROOT$path" 2>/dev/null; then
      changed "removed" "remove" "$path/"
    else
      same "kept" "$path/" "not empty"
    fi
  done
  [ "$units" = 0 ] || daemon_reload
  if [ "$DRY_RUN" = 1 ]; then echo "Dry run: nothing was changed."; else echo "Done."; fi
}

# ---------------------------------------------------------------------------------------------
# Install: what goes where. ITEMS holds "target|source|mode"; sources under $WORK are rewritten copies.
ITEMS=()
PROBLEMS=()
problem() { PROBLEMS+=("$1"); }

# Units, drop-in and PAM line name /usr/local/bin/claude-auth; another prefix rewrites that path.
for_prefix() { # source -> path of a copy naming $INSTALLED_BINARY
  local out
  out=$WORK/$(basename "$1")
  sed "s|$SHIPPED_BINARY|$INSTALLED_BINARY|g" "$1" >"$out"
  printf '%s' "$out"
}

plan_install() {
  local s missing=()
  local sources=(
    shell/claude-auth.sh shell/claude-auth.fish shell/start-claude.sh
    hooks/systemd/claude-auth-sync@.service hooks/systemd/claude-auth-sync@.timer
    hooks/systemd/t3-serve@.service.d/claude-auth.conf hooks/pam/claude-auth hooks/pam/claude-auth-auth
    hooks/prometheus/claude-auth-sync.rules.yml hooks/config/config.env hooks/zsh/zshenv
  )
  for s in "${sources[@]}"; do [ -f "$SRC/$s" ] || missing+=("$SRC/$s"); done
  if [ ${#missing[@]} -gt 0 ]; then
    die "source files missing: ${missing[*]}" "run ./install.sh from a complete checkout or release tree"
  fi
  for s in hooks/systemd/claude-auth-sync@.service hooks/systemd/t3-serve@.service.d/claude-auth.conf hooks/pam/claude-auth hooks/pam/claude-auth-auth; do
    grep -qF "$SHIPPED_BINARY" "$SRC/$s" || die "$SRC/$s does not name $SHIPPED_BINARY; install.sh cannot point it at $INSTALLED_BINARY"
  done

  # The binary must exist and run here (a build for another architecture or a truncated download fails).
  local binary=${BINARY:-$SRC/dist/claude-auth} version
  if [ ! -e "$binary" ]; then
    if [ -n "$BINARY" ]; then die "--binary $binary does not exist"; fi
    die "no built binary at $binary" "run 'npm ci && npm run build' first, or pass --binary PATH to a release binary"
  fi
  { [ -f "$binary" ] && [ -x "$binary" ]; } || die "$binary is not an executable file" "chmod 755 it, or pass the right --binary"
  if ! version=$(timeout 30 "$binary" --version 2>&1 </dev/null); then
    die "$binary --version failed: ${version:-no output}" "use a binary built for this machine (npm run build, or the release for $(uname -m))"
  fi
  VERSION=${version%%$'\n'*}
  case "$VERSION" in
    "claude-auth "*) ;;
    *) die "$binary is not claude-auth: --version printed '$VERSION'" "pass the claude-auth binary (a build still in progress? run npm run build again)" ;;
  esac
  BINARY=$binary

  PAM_LINE=$(grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' "$SRC/hooks/pam/claude-auth" | sed "s|$SHIPPED_BINARY|$INSTALLED_BINARY|g")
  [ "$(printf '%s\n' "$PAM_LINE" | wc -l)" = 1 ] || die "$SRC/hooks/pam/claude-auth must hold exactly one PAM line"
  # The line releases before 2026-12 shipped: it ran again at close_session, with the user's PAM environment.
  OLD_PAM_LINE=${PAM_LINE/ type=open_session / }
  PAM_AUTH_LINE=$(grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' "$SRC/hooks/pam/claude-auth-auth" | sed "s|$SHIPPED_BINARY|$INSTALLED_BINARY|g")
  [ "$(printf '%s\n' "$PAM_AUTH_LINE" | wc -l)" = 1 ] || die "$SRC/hooks/pam/claude-auth-auth must hold exactly one PAM line"
  ZSHENV_LINE=$(grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' "$SRC/hooks/zsh/zshenv")
  [ "$(printf '%s\n' "$ZSHENV_LINE" | wc -l)" = 1 ] || die "$SRC/hooks/zsh/zshenv must hold exactly one line"

  ITEMS=(
    "$INSTALLED_BINARY|$BINARY|0755"
    "$BIN_DIR/start-claude|$SRC/shell/start-claude.sh|0755"
    "$SHARE_DIR/claude-auth.sh|$SRC/shell/claude-auth.sh|0644"
    "$SHARE_DIR/prometheus/claude-auth-sync.rules.yml|$SRC/hooks/prometheus/claude-auth-sync.rules.yml|0644"
    "$SHARE_DIR/runbook.md|$SRC/docs/runbook.md|0644"
    "/etc/profile.d/claude-auth.sh|$SRC/shell/claude-auth.sh|0644"
    "/etc/fish/conf.d/claude-auth.fish|$SRC/shell/claude-auth.fish|0644"
    "$UNIT_DIR/claude-auth-sync@.service|$(for_prefix "$SRC/hooks/systemd/claude-auth-sync@.service")|0644"
    "$UNIT_DIR/claude-auth-sync@.timer|$SRC/hooks/systemd/claude-auth-sync@.timer|0644"
    "$UNIT_DIR/t3-serve@.service.d/claude-auth.conf|$(for_prefix "$SRC/hooks/systemd/t3-serve@.service.d/claude-auth.conf")|0644"
  )

  load_manifest
  if [ "$MANIFEST_FOUND" = 1 ] && [ "$M_PREFIX" != "$PREFIX" ]; then
    die "claude-auth-sync is installed with --prefix $M_PREFIX, not $PREFIX" \
      "run ./install.sh --uninstall first, or install again with --prefix $M_PREFIX"
  fi

  # Every target: a regular file or nothing, in a directory that exists or can be made, writable.
  local item target targets=() t
  for item in "${ITEMS[@]}"; do targets+=("${item%%|*}"); done
  targets+=("$MANIFEST")
  for t in "${targets[@]}"; do
    if [ -L "$ROOT$t" ] || { [ -e "$ROOT$t" ] && [ ! -f "$ROOT$t" ]; }; then
      problem "$ROOT$t exists and is not a regular file (a link or directory): move it away first"
    fi
    check_writable_dir "$(dirname "$t")"
  done
  # A file we may have to back up needs a free place for its copy.
  for t in "${targets[@]}" "$PAM_FILE" "$ZSHENV"; do
    if [ -e "$ROOT$t" ] && [ -z "${M_KIND[$t]:-}" ] && [ -e "$ROOT$(backup_of "$t")" ]; then
      problem "$ROOT$(backup_of "$t") is in the way of a backup of $t: move it away first"
    fi
  done
  if [ -e "$ROOT$CONFIG" ]; then
    [ -f "$ROOT$CONFIG" ] || problem "$ROOT$CONFIG exists and is not a regular file"
  else
    check_writable_dir "$(dirname "$CONFIG")"
  fi
  if [ "$PAM" = 1 ]; then
    target=$ROOT$PAM_FILE
    if [ ! -e "$target" ]; then
      problem "PAM file $target does not exist: pass the session file of this system with --pam-file"
    elif [ -L "$target" ] || [ ! -f "$target" ]; then
      problem "PAM file $target is not a regular file (a link?): pass the real file with --pam-file"
    else
      check_writable_dir "$(dirname "$PAM_FILE")"
      check_writable_dir "$STATE_DIR"
    fi
  fi
  if [ -f "$ROOT$ZSHENV" ] && [ ! -L "$ROOT$ZSHENV" ] && ! grep -qxF -- "$ZSHENV_LINE" "$ROOT$ZSHENV"; then
    check_writable_dir "$(dirname "$ZSHENV")"
    check_writable_dir "$STATE_DIR"
  fi
  refuse_if_problems
}

refuse_if_problems() {
  if [ ${#PROBLEMS[@]} -gt 0 ]; then
    printf '%s: error: nothing was changed, because:\n' "$PROG" >&2
    printf '  - %s\n' "${PROBLEMS[@]}" >&2
    [ "$IS_ROOT" = 1 ] || printf '  fix: run it as root (sudo ./install.sh)\n' >&2
    exit 1
  fi
}

# The nearest existing ancestor of a target directory must be a directory we can write to.
declare -A CHECKED_DIR=()
check_writable_dir() {
  local dir=$1
  [ -z "${CHECKED_DIR[$dir]:-}" ] || return 0
  CHECKED_DIR[$dir]=1
  while [ ! -e "$ROOT$dir" ] && [ "$dir" != / ]; do dir=$(dirname "$dir"); done
  [ -z "${CHECKED_DIR[=$dir]:-}" ] || return 0
  CHECKED_DIR[=$dir]=1
  if [ ! -d "$ROOT$dir" ]; then
    problem "$ROOT$dir is in the way: it is not a directory"
  elif [ ! -w "$ROOT$dir" ]; then
    problem "$ROOT$dir is not writable"
  fi
}

install_file() { # target source mode
  local target=$1 source=$2 mode=$3 want have ours
  want=$(sha "$source")
  ours=${M_KIND[$target]:-}
  if [ -f "$ROOT$target" ]; then
    have=$(sha "$ROOT$target")
    if [ "$have" = "$want" ]; then
      if [ -z "$ours" ]; then
        same "unchanged" "$target" "was already there: left in place on uninstall"
      elif [ "$(stat -c %a "$ROOT$target")" != "${mode#0}" ] || { [ "$IS_ROOT" = 1 ] && [ "$(stat -c %u:%g "$ROOT$target")" != 0:0 ]; }; then
        changed "fixed mode" "fix mode of" "$target" "$mode, root"
        if [ "$DRY_RUN" = 0 ]; then chmod "$mode" "$ROOT$target"; set_owner "$ROOT$target"; fi
      else
        same "unchanged" "$target"
      fi
      return 0
    fi
    if [ -n "$ours" ]; then
      [ "$have" = "${M_SUM[$target]}" ] || warn "$target was changed since install; replacing it with the shipped version"
      changed "updated" "update" "$target"
      [ "$DRY_RUN" = 1 ] || install_bytes "$source" "$target" "$mode"
      record "$ours" "$want" "$target" "${M_BACKUP[$target]}"
    else
      changed "replaced" "replace" "$target" "the previous file is kept and comes back on uninstall"
      make_backup "$target"
      [ "$DRY_RUN" = 1 ] || install_bytes "$source" "$target" "$mode"
      record replaced "$want" "$target" "$(backup_of "$target")"
    fi
  else
    ensure_dir "$(dirname "$target")"
    changed "installed" "install" "$target"
    [ "$DRY_RUN" = 1 ] || install_bytes "$source" "$target" "$mode"
    record file "$want" "$target"
  fi
  save_manifest
}

install_config() {
  if [ -e "$ROOT$CONFIG" ]; then
    if [ "${M_KIND[$CONFIG]:-}" = config ] && [ "$(sha "$ROOT$CONFIG")" = "${M_SUM[$CONFIG]}" ]; then
      same "unchanged" "$CONFIG" "template: set VAULT_ADDR and how the host logs in"
    else
      same "kept" "$CONFIG" "exists; never overwritten"
    fi
    if [ "$IS_ROOT" = 1 ] && [ -f "$ROOT$CONFIG" ]; then
      local mode owner
      mode=$(stat -c %a "$ROOT$CONFIG")
      owner=$(stat -c %u "$ROOT$CONFIG")
      if [ "$owner" != 0 ] || [ $((8#$mode & 8#022)) != 0 ]; then
        warn "$CONFIG must be owned by root and not writable by group/others, or claude-auth refuses it: chown root:root $CONFIG && chmod 644 $CONFIG"
      fi
    fi
    return 0
  fi
  ensure_dir "$(dirname "$CONFIG")"
  changed "installed" "install" "$CONFIG" "template, root 0644: set VAULT_ADDR and how the host logs in"
  [ "$DRY_RUN" = 1 ] || install_bytes "$SRC/hooks/config/config.env" "$CONFIG" 0644
  record config "$(sha "$SRC/hooks/config/config.env")" "$CONFIG"
  save_manifest
}

# Where the line goes: after the last pam_mkhomedir session line (the home must exist before the
# sync) and after pam-auth-update's managed block (which it rewrites); else at the end of the file.
pam_insert_after() {
  awk '
    /^# end of pam-auth-update config/ { n = NR; next }
    /^[[:space:]]*#/ { next }
    /^[[:space:]]*-?session[[:space:]].*pam_mkhomedir\.so/ { n = NR }
    END { print (n ? n : NR) }
  ' "$1"
}

install_pam() {
  local target=$ROOT$PAM_FILE ours=${M_KIND[$PAM_FILE]:-} at existing
  if grep -qxF -- "$PAM_LINE" "$target"; then
    if [ "$ours" = edit ]; then
      same "unchanged" "$PAM_FILE" "PAM line"
    else
      same "unchanged" "$PAM_FILE" "already holds the PAM line; not added by install.sh, left alone on uninstall"
    fi
    return 0
  fi
  if grep -qxF -- "$OLD_PAM_LINE" "$target"; then
    upgrade_pam_line "$PAM_FILE"
    return 0
  fi
  existing=$(grep -E '^[[:space:]]*-?session[[:space:]].*pam_exec\.so.*claude-auth pam' "$target" || true)
  if [ -n "$existing" ]; then
    warn "$PAM_FILE already runs claude-auth ($existing); not adding a second line. Fix that line by hand to read: $PAM_LINE"
    return 0
  fi
  at=$(pam_insert_after "$target")
  if [ "$ours" = edit ]; then
    # Our line was taken out since install: a fresh backup of the file as it is now.
    forget "$PAM_FILE"
    [ "$DRY_RUN" = 1 ] || rm -f "$ROOT${M_BACKUP[$PAM_FILE]:-/nonexistent}"
  fi
  make_backup "$PAM_FILE"
  changed "edited" "edit" "$PAM_FILE" "PAM line added after line $at; backup in $(backup_of "$PAM_FILE")"
  if [ "$DRY_RUN" = 0 ]; then
    if [ -s "$target" ]; then
      LINE=$PAM_LINE awk -v at="$at" '{ print } NR == at { print ENVIRON["LINE"] }' "$target" >"$WORK/pam"
    else
      printf '%s\n' "$PAM_LINE" >"$WORK/pam"
    fi
    rewrite_keeping_attrs "$PAM_FILE" "$WORK/pam"
    record edit "$(sha "$target")" "$PAM_FILE" "$(backup_of "$PAM_FILE")" "$PAM_LINE"
    save_manifest
  fi
}

# The auth line goes after pam-auth-update's managed block (after pam_permit: the password was
# accepted by then), else at the end of the file: after every module that asks for the password.
install_pam_auth() {
  local target=$ROOT$PAM_AUTH_FILE ours=${M_KIND[$PAM_AUTH_FILE]:-} at existing
  if [ ! -f "$target" ] || [ -L "$target" ]; then
    warn "PAM file $PAM_AUTH_FILE is missing or not a regular file: auth line not added; pass the auth file of this system with --pam-auth-file"
    return 0
  fi
  if grep -qxF -- "$PAM_AUTH_LINE" "$target"; then
    same "unchanged" "$PAM_AUTH_FILE" "PAM auth line"
    return 0
  fi
  existing=$(grep -E '^[[:space:]]*-?auth[[:space:]].*pam_exec\.so.*claude-auth pam' "$target" || true)
  if [ -n "$existing" ]; then
    warn "$PAM_AUTH_FILE already runs claude-auth ($existing); not adding a second line. Fix that line by hand to read: $PAM_AUTH_LINE"
    return 0
  fi
  at=$(awk '/^# end of pam-auth-update config/ { n = NR } END { print (n ? n : NR) }' "$target")
  if [ "$ours" = edit ]; then
    forget "$PAM_AUTH_FILE"
    [ "$DRY_RUN" = 1 ] || rm -f "$ROOT${M_BACKUP[$PAM_AUTH_FILE]:-/nonexistent}"
  fi
  make_backup "$PAM_AUTH_FILE"
  changed "edited" "edit" "$PAM_AUTH_FILE" "PAM auth line added after line $at (after the password modules); backup in $(backup_of "$PAM_AUTH_FILE")"
  [ "$DRY_RUN" = 0 ] || return 0
  LINE=$PAM_AUTH_LINE awk -v at="$at" '{ print } NR == at { print ENVIRON["LINE"] }' "$target" >"$WORK/pam-auth"
  rewrite_keeping_attrs "$PAM_AUTH_FILE" "$WORK/pam-auth"
  record edit "$(sha "$target")" "$PAM_AUTH_FILE" "$(backup_of "$PAM_AUTH_FILE")" "$PAM_AUTH_LINE"
  save_manifest
}

# The old line becomes the new one where it stands. Uninstall still restores byte-for-byte what was
# there before install.sh first touched the file (or, if it was edited since, removes only our line).
upgrade_pam_line() { # pam-file
  local file=$1 target=$ROOT$1 sum=
  if [ "${M_KIND[$file]:-}" = edit ]; then
    # Edited by someone since our install: the backup no longer matches, so keep the old sum.
    [ "$(sha "$target")" = "${M_SUM[$file]}" ] || sum=${M_SUM[$file]}
  else
    make_backup "$file"
  fi
  changed "edited" "edit" "$file" "PAM line upgraded in place to type=open_session (the old line ran again at close_session, with the user's PAM environment)"
  [ "$DRY_RUN" = 0 ] || return 0
  OLD=$OLD_PAM_LINE LINE=$PAM_LINE awk '$0 == ENVIRON["OLD"] { print ENVIRON["LINE"]; next } { print }' "$target" >"$WORK/pam"
  rewrite_keeping_attrs "$file" "$WORK/pam"
  record edit "${sum:-$(sha "$target")}" "$file" "$(backup_of "$file")" "$PAM_LINE"
  save_manifest
}

# zsh reads no /etc/profile.d; its global zshenv gets one line at the end (not replaced: it is
# zsh-common's file), backed up first like the PAM file, so uninstall gives it back byte-for-byte.
install_zshenv() {
  local target=$ROOT$ZSHENV
  if [ ! -e "$target" ]; then
    same "skipped" "$ZSHENV" "zsh is not installed; after installing it run ./install.sh again (or users run claude-auth shell install --shell zsh)"
    return 0
  fi
  if [ -L "$target" ] || [ ! -f "$target" ]; then
    warn "$ZSHENV is not a regular file (a link?): not edited; add this line to the file it points to: $ZSHENV_LINE"
    return 0
  fi
  if grep -qxF -- "$ZSHENV_LINE" "$target"; then
    if [ "${M_KIND[$ZSHENV]:-}" = edit ]; then
      same "unchanged" "$ZSHENV" "sources the snippet"
    else
      same "unchanged" "$ZSHENV" "already sources the snippet; not added by install.sh, left alone on uninstall"
    fi
    return 0
  fi
  if [ "${M_KIND[$ZSHENV]:-}" = edit ]; then
    # Our line was taken out since install: a fresh backup of the file as it is now.
    [ "$DRY_RUN" = 1 ] || rm -f "$ROOT${M_BACKUP[$ZSHENV]:-/nonexistent}"
    forget "$ZSHENV"
  fi
  make_backup "$ZSHENV"
  changed "edited" "edit" "$ZSHENV" "line sourcing /etc/profile.d/claude-auth.sh added at the end; backup in $(backup_of "$ZSHENV")"
  [ "$DRY_RUN" = 0 ] || return 0
  cp "$target" "$WORK/zshenv"
  if [ -s "$target" ] && [ -n "$(tail -c 1 "$target")" ]; then printf '\n' >>"$WORK/zshenv"; fi
  printf '%s\n' "$ZSHENV_LINE" >>"$WORK/zshenv"
  rewrite_keeping_attrs "$ZSHENV" "$WORK/zshenv"
  record edit "$(sha "$target")" "$ZSHENV" "$(backup_of "$ZSHENV")" "$ZSHENV_LINE"
  save_manifest
}

install() {
  plan_install
  [ "$DRY_RUN" = 1 ] || ACTING=installing
  echo "Installing claude-auth-sync into ${ROOT:-/} (prefix $PREFIX): $VERSION"
  local item target rest source mode units_before units_after
  units_before=$CHANGED
  for item in "${ITEMS[@]}"; do
    target=${item%%|*}
    rest=${item#*|}
    source=${rest%|*}
    mode=${rest##*|}
    install_file "$target" "$source" "$mode"
  done
  units_after=$CHANGED
  install_config
  install_zshenv
  local path upgraded=
  for path in "${M_ORDER[@]}"; do
    # A line an earlier --pam install added is upgraded even without --pam: it is a security fix.
    if [ "${M_KIND[$path]}" = edit ] && [ "${M_LINE[$path]}" = "$OLD_PAM_LINE" ] &&
      { [ "$PAM" = 0 ] || [ "$path" != "$PAM_FILE" ]; } &&
      [ -f "$ROOT$path" ] && grep -qxF -- "$OLD_PAM_LINE" "$ROOT$path"; then
      upgrade_pam_line "$path"
      upgraded="$upgraded $path "
    fi
  done
  if [ "$PAM" = 1 ]; then
    install_pam
  elif [ "${M_KIND[$PAM_FILE]:-}" = edit ] && [[ $upgraded != *" $PAM_FILE "* ]]; then
    same "unchanged" "$PAM_FILE" "PAM line from an earlier --pam install"
  fi
  if [ "$PAM_AUTH" = 1 ]; then
    install_pam_auth
  elif [ "${M_KIND[$PAM_AUTH_FILE]:-}" = edit ]; then
    same "unchanged" "$PAM_AUTH_FILE" "PAM auth line from an earlier --pam-auth install"
  fi
  [ "$units_after" = "$units_before" ] || daemon_reload

  echo
  echo "Prometheus rules: $SHARE_DIR/prometheus/claude-auth-sync.rules.yml (add it to rule_files in prometheus.yml)."
  if [ "$DRY_RUN" = 1 ]; then
    echo "Dry run: nothing was changed."
  elif [ "$CHANGED" = 0 ]; then
    echo "Nothing to do: claude-auth-sync is already installed as above."
  else
    echo "Installed. Manifest: $MANIFEST (./install.sh --uninstall removes exactly this)."
    echo "Next: set VAULT_ADDR and the host's Vault login in $CONFIG, then run: claude-auth doctor"
    echo "      per user: systemctl enable --now claude-auth-sync@<user>.timer"
    [ "$PAM" = 1 ] || echo "      sync at every login: ./install.sh --pam"
    [ "$PAM_AUTH" = 1 ] || echo "      enroll users' Vault tokens at a password login: ./install.sh --pam --pam-auth"
  fi
}

if [ "$UNINSTALL" = 1 ]; then uninstall; else install; fi
