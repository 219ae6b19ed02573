#!/bin/sh
# start-claude: run Claude Code with the setup token from ~/.config/claude-auth-sync/claude-oauth.env.
#
# Installed as /usr/local/bin/start-claude. The env file has one parser for sh, the snippet claude-auth.sh,
# sourced here (same rules: parsed, never executed; a token the user set themselves wins; a token a shell
# exported earlier is refreshed from the file, or withdrawn if the file is gone). The snippet is looked up
# next to this script (the source tree), then in ../share/claude-auth-sync/, then /etc/profile.d/. Without
# it, an existing env file is reported on stderr and claude starts on its normal credentials.
# shellcheck source-path=SCRIPTDIR
set -u

case "$0" in
  */*) __start_claude_dir="${0%/*}" ;;
  *) __start_claude_dir=. ;;
esac
__start_claude_snippet=
for __start_claude_candidate in \
  "$__start_claude_dir/claude-auth.sh" \
  "$__start_claude_dir/../share/claude-auth-sync/claude-auth.sh" \
  /etc/profile.d/claude-auth.sh; do
  if [ -f "$__start_claude_candidate" ]; then
    __start_claude_snippet="$__start_claude_candidate"
    break
  fi
done

if [ -n "$__start_claude_snippet" ]; then
  # shellcheck source=claude-auth.sh
  . "$__start_claude_snippet"
elif [ -n "${HOME:-}" ] && [ -e "$HOME/.config/claude-auth-sync/claude-oauth.env" ]; then
  printf '%s\n' "start-claude: cannot load $HOME/.config/claude-auth-sync/claude-oauth.env:" \
    "  claude-auth.sh is not in $__start_claude_dir, $__start_claude_dir/../share/claude-auth-sync or /etc/profile.d." \
    "  Reinstall claude-auth-sync (./install.sh). Starting claude on its normal credentials." >&2
fi
unset __start_claude_dir __start_claude_snippet __start_claude_candidate

if ! command -v claude >/dev/null 2>&1; then
  printf '%s\n' "start-claude: claude is not on PATH (${PATH:-}); install Claude Code (npm i -g @anthropic-ai/claude-code)." >&2
  exit 127
fi
exec claude "$@"
