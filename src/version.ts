// Filled in by the bundler (scripts/build.mjs); the fallbacks serve tests run from source.
declare const __CLAUDE_AUTH_SYNC_VERSION__: string | undefined;
declare const __CLAUDE_AUTH_SYNC_COMMIT__: string | undefined;

export const VERSION =
  typeof __CLAUDE_AUTH_SYNC_VERSION__ === "string" ? __CLAUDE_AUTH_SYNC_VERSION__ : "0.0.0-dev";
export const COMMIT =
  typeof __CLAUDE_AUTH_SYNC_COMMIT__ === "string" ? __CLAUDE_AUTH_SYNC_COMMIT__ : "source";
export const VERSION_LINE = `claude-auth ${VERSION} (${COMMIT})`;
