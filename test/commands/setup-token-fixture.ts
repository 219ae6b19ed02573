// A workstation for enable/rotate/disable: the Vault stand-in, a real user, the Anthropic stand-in for
// the live check, and helpers to run the built binary as root (--user) or as the user (own identity).
import { execFileSync, spawn } from "node:child_process";
import type { Test } from "tap";
import { type AnthropicStandIn, startAnthropicStandIn } from "../e2e/anthropic-standin.js";
import { BINARY, type RunResult, runBinary } from "../helpers/cli.js";
import { putPolicy, userPolicy, vaultApi } from "../helpers/vault-api.js";
import { type VaultServer, type Workstation, type WorkstationOptions, workstation } from "../sync/fixture.js";
import type { VaultStandIn } from "../vault/standin.js";

export { setupToken } from "../sync/fixture.js";

export interface TokenWorkstation<V extends VaultServer = VaultStandIn> extends Workstation<V> {
  api: AnthropicStandIn;
  /** `claude-auth <command> --user <user> --config <config>` as root (host identity). */
  asRoot(command: string, args?: string[], stdin?: string): Promise<RunResult>;
  /** `claude-auth <command> --config <config>` as the user, with their own ~/.vault-token. */
  asUser(command: string, args?: string[], stdin?: string): Promise<RunResult>;
  /** Gives the user a Vault identity of their own under the runbook's templated policy. */
  giveOwnIdentity(): Promise<string>;
  /** The stand-in's log of writes to the document (a real server: read its audit log instead). */
  postsToDocument(): Array<{ method: string; body: unknown }>;
  /** `options` of each write to the document (where `cas` is); stand-in only, as above. */
  writeOptions(): unknown[];
}

export async function tokenWorkstation<V extends VaultServer = VaultStandIn>(
  t: Test,
  configExtra: Record<string, string> = {},
  options: WorkstationOptions<V> = {},
): Promise<TokenWorkstation<V>> {
  const api = await startAnthropicStandIn();
  t.teardown(() => api.close());
  const ws = await workstation(t, { CLAUDE_AUTH_SYNC_ANTHROPIC_BASE_URL: api.url, ...configExtra }, options);
  const userEnv = { HOME: ws.user.home, USER: ws.user.name, LOGNAME: ws.user.name };
  const requestLog = () => {
    const log = (ws.vault as Partial<VaultStandIn>).requests;
    if (!log) throw new Error("postsToDocument/writeOptions need the stand-in's request log");
    return log;
  };
  const postsToDocument = () =>
    requestLog()
      .filter((r) => r.logicalPath.endsWith(`claude-users/${ws.user.name}`) && r.method !== "GET")
      .map((r) => ({ method: r.method, body: r.body as unknown }));
  return {
    ...ws,
    api,
    postsToDocument,
    asRoot: (command, args = [], stdin) =>
      runBinary([command, "--user", ws.user.name, "--config", ws.config, ...args], {
        ...(stdin === undefined ? {} : { stdin }),
      }),
    asUser: (command, args = [], stdin) =>
      runBinary([command, "--config", ws.config, ...args], {
        uid: ws.user.uid,
        gid: ws.user.gid,
        env: userEnv,
        ...(stdin === undefined ? {} : { stdin }),
      }),
    async giveOwnIdentity() {
      const { addr, rootToken } = ws.vault;
      await vaultApi(addr, rootToken, "POST", "sys/auth/userpass", { type: "userpass" });
      const mounts = (await vaultApi(addr, rootToken, "GET", "sys/auth")).body?.data as Record<
        string,
        { accessor: string }
      >;
      await putPolicy(addr, rootToken, "claude-user", userPolicy(mounts["userpass/"]?.accessor ?? ""));
      await vaultApi(addr, rootToken, "POST", `auth/userpass/users/${ws.user.name}`, {
        password: "pw-own",
        token_policies: ["claude-user"],
      });
      const login = await vaultApi(addr, undefined, "POST", `auth/userpass/login/${ws.user.name}`, {
        password: "pw-own",
      });
      const token = (login.body?.auth as { client_token?: string } | undefined)?.client_token ?? "";
      execFileSync(
        "runuser",
        ["-u", ws.user.name, "--", "sh", "-c", 'umask 077; cat > "$1/.vault-token"', "sh", ws.user.home],
        { input: token },
      );
      return token;
    },
    writeOptions() {
      return postsToDocument().map((w) => (w.body as { options?: unknown } | undefined)?.options);
    },
  };
}

export interface PtyRun {
  code: number | null;
  /** Everything the terminal showed: what the program wrote plus whatever the tty echoed. */
  screen: string;
  ms: number;
}

/**
 * Runs the built binary on a real pseudo-terminal (util-linux `script`), waits for `prompt` to show,
 * then types `keys` as a person would. The screen is what they would have seen.
 */
export function runOnPty(
  args: string[],
  options: { uid?: number; gid?: number; env?: Record<string, string>; prompt: RegExp; keys: string },
): Promise<PtyRun> {
  const started = Date.now();
  const command = [BINARY, ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(" ");
  return new Promise((resolve, reject) => {
    const child = spawn("script", ["-qfec", command, "/dev/null"], {
      env: { PATH: "/usr/local/bin:/usr/bin:/bin", TERM: "xterm", ...options.env },
      stdio: ["pipe", "pipe", "pipe"],
      ...(options.uid === undefined ? {} : { uid: options.uid, gid: options.gid ?? options.uid }),
      cwd: "/",
    });
    let screen = "";
    let typed = false;
    const onOutput = (chunk: Buffer) => {
      screen += chunk.toString();
      if (!typed && options.prompt.test(screen)) {
        typed = true;
        child.stdin.write(options.keys);
      }
    };
    child.stdout.on("data", onOutput);
    child.stderr.on("data", onOutput);
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, screen, ms: Date.now() - started });
    });
  });
}

/** Exactly what `setupTokenCommand` should print for an unprivileged user. */
export function restartHint(user: string): string {
  return `sudo systemctl restart t3-serve@${user}.service`;
}
