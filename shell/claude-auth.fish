# claude-auth-sync: export CLAUDE_CODE_OAUTH_TOKEN from ~/.config/claude-auth-sync/claude-oauth.env.
#
# Installed as /etc/fish/conf.d/claude-auth.fish; the fish twin of claude-auth.sh, same rules:
# - builtins only (read, string, test, set): sourcing it spawns no process;
# - the env file is parsed, never sourced: exactly one line
#   CLAUDE_CODE_OAUTH_TOKEN=sk-ant-oat01-<A-Z a-z 0-9 _ -> (20-512 characters) or nothing is exported;
# - CLAUDE_AUTH_SYNC_EXPORTED holds the last 8 characters of the token this file exported (a fingerprint,
#   not the secret); only a CLAUDE_CODE_OAUTH_TOKEN carrying it is replaced or withdrawn, so a token the
#   user set themselves is left alone; with the env file gone, re-sourcing withdraws ours;
# - ~/.config/claude-auth-sync/notice goes to stderr in interactive shells only, once per shell;
# - without $HOME it does nothing.
# Every helper is local to this file (set -l at file level); only __claude_auth_notice_shown stays, global.

set -l __claude_auth_home
set -q HOME[1]; and set __claude_auth_home $HOME[1]
set -l __claude_auth_env $__claude_auth_home/.config/claude-auth-sync/claude-oauth.env
set -l __claude_auth_content
set -l __claude_auth_token
set -l __claude_auth_current
set -q CLAUDE_CODE_OAUTH_TOKEN[1]; and set __claude_auth_current "$CLAUDE_CODE_OAUTH_TOKEN"
set -l __claude_auth_ours 0

if test -n "$__claude_auth_home"
    # read -z takes the file raw up to a NUL; a second read finds anything after one. The anchored
    # pattern then admits exactly one line.
    if test -f $__claude_auth_env; and test -O $__claude_auth_env
        set -l __claude_auth_rest
        begin
            read -z __claude_auth_content
            read -z __claude_auth_rest
        end <$__claude_auth_env
        test -z "$__claude_auth_rest"
        and set __claude_auth_token (string match -r --groups-only -- \
            '\ACLAUDE_CODE_OAUTH_TOKEN=(sk-ant-oat01-[A-Za-z0-9_-]{7,499})\n?\z' "$__claude_auth_content")
    end

    if test -n "$__claude_auth_current"; and set -q CLAUDE_AUTH_SYNC_EXPORTED[1]
        and test (string sub -s -8 -- "$__claude_auth_current") = "$CLAUDE_AUTH_SYNC_EXPORTED"
        set __claude_auth_ours 1
    end

    if test -n "$__claude_auth_token"; and begin
            test -z "$__claude_auth_current"; or test $__claude_auth_ours = 1
        end
        set -gx CLAUDE_CODE_OAUTH_TOKEN $__claude_auth_token
        set -gx CLAUDE_AUTH_SYNC_EXPORTED (string sub -s -8 -- $__claude_auth_token)
    else if test $__claude_auth_ours = 1
        set -eg CLAUDE_CODE_OAUTH_TOKEN
        set -eg CLAUDE_AUTH_SYNC_EXPORTED
    else if set -q CLAUDE_AUTH_SYNC_EXPORTED
        # A marker that describes no value of ours is stale.
        set -eg CLAUDE_AUTH_SYNC_EXPORTED
    end

    if status is-interactive; and not set -q __claude_auth_notice_shown
        and test -f $__claude_auth_home/.config/claude-auth-sync/notice
        set -l __claude_auth_notice
        read __claude_auth_notice <$__claude_auth_home/.config/claude-auth-sync/notice
        if test -n "$__claude_auth_notice"
            set -g __claude_auth_notice_shown 1
            printf '%s\n' "$__claude_auth_notice" >&2
        end
    end
end
