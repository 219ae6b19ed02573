// Node's built-in modules, loaded where a run first uses them, not at start-up: every module the
// login hook loads is paid for at every login (test/pam/login-modules.test.ts). One require function
// for the whole program, made on first use.
import { createRequire } from "node:module";

let load: NodeJS.Require | undefined;

/** `require(name)` of a built-in module, e.g. `builtin("node:tls") as typeof import("node:tls")`. */
export function builtin(name: `node:${string}`): unknown {
  load ??= createRequire(import.meta.url);
  return load(name);
}
