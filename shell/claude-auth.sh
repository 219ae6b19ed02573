# claude-auth-sync: export CLAUDE_CODE_OAUTH_TOKEN from ~/.config/claude-auth-sync/claude-oauth.env.
#
# Installed as /etc/profile.d/claude-auth.sh (login sh, dash, bash), sourced from ~/.bashrc or ~/.zshrc
# by `claude-auth shell install` (zsh never reads /etc/profile.d), and by start-claude.
# Written for sh, dash, bash and zsh; test/shell/ checks every rule below with the real shells.
#
# - Builtins only: sourcing this file spawns no process (no $(...), no subshell, no cat).
# - The env file is parsed, never sourced or eval'd: exactly one line
#   CLAUDE_CODE_OAUTH_TOKEN=sk-ant-oat01-<A-Z a-z 0-9 _ -> (20-512 characters) or nothing is exported.
# - CLAUDE_AUTH_SYNC_EXPORTED is the marker: the last 8 characters of the token this snippet exported
#   (a fingerprint, not the secret). Only a CLAUDE_CODE_OAUTH_TOKEN carrying that fingerprint is ever
#   replaced or withdrawn; a token the user set themselves is left alone.
# - With the env file gone (`claude-auth disable`), re-sourcing withdraws the token this snippet exported.
# - ~/.config/claude-auth-sync/notice (one line) goes to stderr, in interactive shells only, once per shell.
# - Safe under set -eu and zsh's nounset/err_exit; without $HOME (pam, cron) it does nothing.
# - Helpers are __claude_auth_* variables, unset at the end; __claude_auth_notice_pid stays (once-per-shell).

if [ -n "${HOME:-}" ]; then
  __claude_auth_env="$HOME/.config/claude-auth-sync/claude-oauth.env"
  __claude_auth_line=
  __claude_auth_more=
  __claude_auth_token=
  __claude_auth_mark=
  __claude_auth_current="${CLAUDE_CODE_OAUTH_TOKEN:-}"

  # Read at most two lines: the second read only proves there is no second line. Only a regular file
  # owned by this user counts. The outer braces silence a file that vanishes between the test and the open.
  if [ -f "$__claude_auth_env" ] && [ -O "$__claude_auth_env" ] && {
    {
      IFS= read -r __claude_auth_line || :
      ! IFS= read -r __claude_auth_more
    } <"$__claude_auth_env"
  } 2>/dev/null && [ -z "$__claude_auth_more" ]; then
    case "$__claude_auth_line" in
      CLAUDE_CODE_OAUTH_TOKEN=sk-ant-oat01-*) __claude_auth_token="${__claude_auth_line#CLAUDE_CODE_OAUTH_TOKEN=}" ;;
    esac
    # The alphabet is spelled out: ranges like A-Z follow the locale in some shells.
    case "$__claude_auth_token" in
      *[!ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-]*) __claude_auth_token= ;;
    esac
    if [ "${#__claude_auth_token}" -lt 20 ] || [ "${#__claude_auth_token}" -gt 512 ]; then
      __claude_auth_token=
    fi
  fi

  # The marker must match the current value, or the current value is not ours.
  if [ -n "$__claude_auth_current" ] && [ -n "${CLAUDE_AUTH_SYNC_EXPORTED:-}" ] &&
    [ "${__claude_auth_current#"${__claude_auth_current%????????}"}" = "$CLAUDE_AUTH_SYNC_EXPORTED" ]; then
    __claude_auth_mark=ours
  fi

  if [ -n "$__claude_auth_token" ] && { [ -z "$__claude_auth_current" ] || [ "$__claude_auth_mark" = ours ]; }; then
    export CLAUDE_CODE_OAUTH_TOKEN="$__claude_auth_token"
    export CLAUDE_AUTH_SYNC_EXPORTED="${__claude_auth_token#"${__claude_auth_token%????????}"}"
  elif [ "$__claude_auth_mark" = ours ]; then
    unset CLAUDE_CODE_OAUTH_TOKEN CLAUDE_AUTH_SYNC_EXPORTED
  elif [ -n "${CLAUDE_AUTH_SYNC_EXPORTED+set}" ]; then
    # A marker that describes no value of ours is stale.
    unset CLAUDE_AUTH_SYNC_EXPORTED
  fi

  case "$-" in
    *i*)
      __claude_auth_line=
      if [ "${__claude_auth_notice_pid:-}" != "$$" ] && [ -f "$HOME/.config/claude-auth-sync/notice" ] && {
        { IFS= read -r __claude_auth_line || :; } <"$HOME/.config/claude-auth-sync/notice"
      } 2>/dev/null && [ -n "$__claude_auth_line" ]; then
        __claude_auth_notice_pid="$$"
        printf '%s\n' "$__claude_auth_line" >&2
      fi
      ;;
  esac

  unset __claude_auth_env __claude_auth_line __claude_auth_more __claude_auth_token __claude_auth_mark \
    __claude_auth_current
fi
