// One workstation for a test: a Vault stand-in (or a given server, e.g. a real Vault) with the runbook's host
// policy, a config file, a real user.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Test } from "tap";
import { makeConfig, type RunResult, runBinary } from "../helpers/cli.js";
import { createTestUser, type TestUser } from "../helpers/users.js";
import { hostToken, readDoc, writeDoc } from "../helpers/vault-api.js";
import { startVaultStandIn, type VaultStandIn } from "../vault/standin.js";

export const HOUR = 3_600_000;
export const setupToken = (tag = "A") => `sk-ant-oat01-${tag.repeat(48)}_-x`;

export function credential(tag: string, expiresAt: number) {
  return {
    accessToken: `sk-ant-oat01-access-${tag}`,
    refreshToken: `sk-ant-ort01-refresh-${tag}`,
    expiresAt,
    scopes: ["user:inference", "user:profile"],
    subscriptionType: "max",
  };
}

export const STUB = { accessToken: "", refreshToken: "", expiresAt: 0 };

/** What a workstation needs of a Vault server: where it is and a root token. */
export interface VaultServer {
  addr: string;
  rootToken: string;
}

export interface WorkstationOptions<V extends VaultServer> {
  /**
   * A server already running (e.g. a real Vault, test/vault-real/bootstrap.ts), shared by the caller and
   * left running. Default: a fresh stand-in, closed at teardown.
   */
  vault?: V;
}

export interface Workstation<V extends VaultServer = VaultStandIn> {
  vault: V;
  user: TestUser;
  config: string;
  metricsDir: string;
  hostToken: string;
  sync(extra?: string[], env?: Record<string, string>): Promise<RunResult>;
  doc(): Promise<{ status: number; data: Record<string, unknown> | undefined; version: number | undefined }>;
  seed(data: Record<string, unknown>): Promise<void>;
  envFile: string;
  /** The root-owned copy systemd loads into t3-serve@<user>. */
  serviceEnvFile: string;
  credentialsFile: string;
  writeCredentials(content: unknown): void;
  homeSnapshot(): Record<string, string>;
}

export async function workstation<V extends VaultServer = VaultStandIn>(
  t: Test,
  configExtra: Record<string, string> = {},
  options: WorkstationOptions<V> = {},
): Promise<Workstation<V>> {
  let vault: V;
  if (options.vault) vault = options.vault;
  else {
    const standIn = await startVaultStandIn();
    t.teardown(() => standIn.close());
    vault = standIn as unknown as V;
  }
  const token = await hostToken(vault.addr, vault.rootToken);
  const user = createTestUser(t);
  const metricsDir = join("/var/tmp", `cas-metrics-${user.name}`);
  mkdirSync(metricsDir, { recursive: true });
  t.teardown(() => execFileSync("rm", ["-rf", metricsDir]));
  const config = makeConfig(
    t,
    {
      VAULT_ADDR: vault.addr,
      CLAUDE_AUTH_SYNC_TIMEOUT_MS: "1500",
      CLAUDE_AUTH_SYNC_METRICS_DIR: metricsDir,
      CLAUDE_AUTH_SYNC_SERVICE_ENV_DIR: join(metricsDir, "service-env"),
      ...configExtra,
    },
    token,
  );
  const envFile = join(user.home, ".config/claude-auth-sync/claude-oauth.env");
  const credentialsFile = join(user.home, ".claude/.credentials.json");
  return {
    vault,
    user,
    config: config.path,
    metricsDir,
    hostToken: token,
    envFile,
    serviceEnvFile: join(metricsDir, "service-env", `${user.name}.env`),
    credentialsFile,
    sync: (extra = [], env = {}) =>
      runBinary(["sync", "--user", user.name, "--config", config.path, ...extra], { env }),
    doc: () => readDoc(vault.addr, vault.rootToken, user.name),
    seed: async (data) => {
      await writeDoc(vault.addr, vault.rootToken, user.name, data);
    },
    writeCredentials(content: unknown) {
      const dir = join(user.home, ".claude");
      execFileSync("runuser", ["-u", user.name, "--", "mkdir", "-p", "-m", "700", dir]);
      const text = typeof content === "string" ? content : JSON.stringify(content);
      execFileSync(
        "runuser",
        ["-u", user.name, "--", "sh", "-c", `umask 077 && cat > "$1"`, "sh", credentialsFile],
        {
          input: text,
        },
      );
    },
    homeSnapshot() {
      return snapshot(user.home);
    },
  };
}

/** Every file below a directory with its mode, owner and content: to show "nothing changed". */
export function snapshot(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      const stat = statSync(path, { throwIfNoEntry: false });
      if (!stat) continue;
      if (stat.isDirectory()) {
        out[`${path}/`] = `${(stat.mode & 0o7777).toString(8)} ${stat.uid}`;
        walk(path);
      } else {
        out[path] = `${(stat.mode & 0o7777).toString(8)} ${stat.uid} ${readFileSync(path, "utf8")}`;
      }
    }
  };
  if (existsSync(root)) walk(root);
  return out;
}

export function metrics(ws: Workstation<VaultServer>): string {
  const path = join(ws.metricsDir, `claude-auth-sync-${ws.user.name}.prom`);
  return existsSync(path) ? readFileSync(path, "utf8") : "";
}

export function writeRootFile(path: string, content: string): void {
  writeFileSync(path, content, { mode: 0o600 });
}
