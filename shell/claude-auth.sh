# claude-auth-sync: export CLAUDE_CODE_OAUTH_TOKEN from ~/.config/claude-auth-sync/claude-oauth.env.
# Every shell start-up sources this, so it is builtins only and short; shell/README.md explains each rule.
if [ -n "${HOME:-}" ]; then
  __cas_file=$HOME/.config/claude-auth-sync/claude-oauth.env
  __cas_line=
  __cas_more=
  if [ -f "$__cas_file" ] && [ -O "$__cas_file" ]; then
    case ${ZSH_VERSION:-} in
      '') { { IFS= read -r __cas_line || :; IFS= read -r __cas_more && __cas_more=x; } <"$__cas_file"; } 2>/dev/null || : ;;
      *)
        # shellcheck disable=SC3045 # zsh reads a line one byte per read(2); -k takes the whole file at once
        { IFS= read -r -u 0 -k 538 __cas_line <"$__cas_file" || :; } 2>/dev/null
        __cas_line=${__cas_line%'
'}
        ;;
    esac
  fi
  # __cas_more holds what follows the first line, so only a one-line file keeps ':' first. The alphabet
  # is spelled out: ranges like A-Z follow the locale in some shells.
  case $__cas_more:$__cas_line in
    :CLAUDE_CODE_OAUTH_TOKEN=sk-ant-oat01-*[!ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-]*) __cas_line= ;;
    :CLAUDE_CODE_OAUTH_TOKEN=sk-ant-oat01-???????*) __cas_line=${__cas_line#*=} && [ "${#__cas_line}" -le 512 ] || __cas_line= ;;
    *) __cas_line= ;;
  esac
  # Whose is the current value: nobody's, ours (it ends with the 8-character marker), or the user's.
  __cas_owner=user
  case ${CLAUDE_CODE_OAUTH_TOKEN:-} in
    '') __cas_owner=nobody ;;
    *"${CLAUDE_AUTH_SYNC_EXPORTED:-}") case ${CLAUDE_AUTH_SYNC_EXPORTED:-} in ????????) __cas_owner=us ;; esac ;;
  esac
  case $__cas_owner:$__cas_line in
    nobody:?* | us:?*) export CLAUDE_CODE_OAUTH_TOKEN="$__cas_line" CLAUDE_AUTH_SYNC_EXPORTED="${__cas_line##"${__cas_line%????????}"}" ;;
    us:) unset -v CLAUDE_CODE_OAUTH_TOKEN CLAUDE_AUTH_SYNC_EXPORTED ;;
    *) unset -v CLAUDE_AUTH_SYNC_EXPORTED ;;
  esac
  case $- in
    *i*)
      if [ -f "$HOME/.config/claude-auth-sync/notice" ] && [ "${__claude_auth_notice_pid:-}" != "$$" ] && __cas_line= &&
        { { IFS= read -r __cas_line || :; } <"$HOME/.config/claude-auth-sync/notice"; } 2>/dev/null && [ -n "$__cas_line" ]; then
        __claude_auth_notice_pid=$$
        printf '%s\n' "$__cas_line" >&2
      fi
      ;;
  esac
  unset -v __cas_file __cas_line __cas_more __cas_owner
fi
