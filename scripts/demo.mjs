#!/usr/bin/env node
// `npm run demo`: claude-auth-sync end to end on one machine, no real Vault needed.
// Starts the Vault stand-in (test/vault/) on loopback, creates a throwaway user, turns setup-token
// mode on, runs the login path (`claude-auth pam`), shows status, the env file and that another
// tool's key in the user's Vault document survived, then turns it off again. Everything it creates
// (user, home, temp files, the stand-in) is removed at the end, also on failure or Ctrl-C.
// Needs root: it creates a real user, and the login path runs as root like pam_exec does.
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const BINARY = join(ROOT, "dist", "claude-auth");
const SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const KV_PATH = (user) => `secret/data/workstation/claude-users/${user}`;
const HOST_POLICY = `
path "secret/data/workstation/claude-users/*" {
  capabilities = ["create", "read", "update"]
}
`;

// ---- output --------------------------------------------------------------------------------------

let step = 0;
function heading(title) {
  step++;
  process.stdout.write(`\n== ${step}. ${title} ==\n`);
}
function say(line = "") {
  process.stdout.write(`  ${line}\n`);
}
/** Never print a setup token: every occurrence becomes its prefix and last four characters. */
const secrets = new Set();
function mask(text) {
  let out = text;
  for (const secret of secrets) out = out.replaceAll(secret, `sk-ant-oat01-…${secret.slice(-4)} (masked)`);
  return out;
}
function show(text) {
  for (const line of mask(text).trimEnd().split("\n")) if (line !== "") say(`| ${line}`);
}

// ---- clean-up, registered before anything is created ---------------------------------------------

const undo = [];
const children = new Set();
let cleaning;
function cleanup() {
  cleaning ??= (async () => {
    for (const child of children) child.kill("SIGKILL");
    while (undo.length > 0) {
      const [what, fn] = undo.pop();
      try {
        await fn();
        say(`removed ${what}`);
      } catch (error) {
        say(`could not remove ${what}: ${error.message}`);
      }
    }
  })();
  return cleaning;
}
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.once(signal, () => {
    process.stdout.write(`\n${signal}: cleaning up\n`);
    void cleanup().then(() => process.exit(130));
  });
}

// ---- helpers --------------------------------------------------------------------------------------

/** The binary as pam_exec, systemd or an admin runs it: a clean environment, nothing inherited. */
async function claudeAuth(args, options = {}) {
  // ETXTBSY: a build is replacing the binary this very moment; it is over within seconds.
  for (let attempt = 1; ; attempt++) {
    try {
      return await runOnce(args, options);
    } catch (error) {
      if (error.code !== "ETXTBSY" || attempt >= 30) throw error;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}

function runOnce(args, { env = { PATH: SAFE_PATH, HOME: "/root" }, stdin = "" }) {
  return new Promise((resolve, reject) => {
    // Through env -u: a test runner (tap) adds its NODE_OPTIONS to every child, and `claude-auth
    // pam` as root refuses a PAM environment with any NODE_* in it, as it should at a real login.
    const child = spawn("/usr/bin/env", ["-u", "NODE_OPTIONS", BINARY, ...args], {
      env,
      stdio: ["pipe", "pipe", "pipe"],
      cwd: "/",
    });
    children.add(child);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c) => {
      stdout += c;
    });
    child.stderr.on("data", (c) => {
      stderr += c;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(stdin);
  });
}

/** Why this build cannot run a command yet (a placeholder), or undefined. */
function notUsable(result) {
  if (result.code === 0) return undefined;
  if (/not implemented yet/.test(result.stderr)) return "is not implemented in this build yet";
  return undefined;
}

/** Vault's HTTP API, as an administrator (or another tool) would call it. */
function vaultApi(addr, token, method, path, payload) {
  const body = payload === undefined ? undefined : JSON.stringify(payload);
  return new Promise((resolve, reject) => {
    const request = http.request(
      new URL(`/v1/${path}`, addr),
      {
        method,
        headers: {
          "X-Vault-Token": token,
          ...(body ? { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) } : {}),
        },
        timeout: 10_000,
      },
      (response) => {
        let text = "";
        response.on("data", (c) => {
          text += c;
        });
        response.on("end", () =>
          resolve({ status: response.statusCode, body: text ? JSON.parse(text) : undefined }),
        );
      },
    );
    request.on("timeout", () => request.destroy(new Error(`${method} ${path}: timeout`)));
    request.on("error", reject);
    request.end(body);
  });
}

async function readDocument(addr, token, user) {
  const answer = await vaultApi(addr, token, "GET", KV_PATH(user));
  return { data: answer.body?.data?.data ?? {}, version: answer.body?.data?.metadata?.version ?? 0 };
}

/** What `vault kv patch -method=rw` does: read, merge in memory, write back with cas = the version read. */
async function mergeWrite(addr, token, user, change) {
  for (let attempt = 1; attempt <= 5; attempt++) {
    const current = await readDocument(addr, token, user);
    const next = { ...current.data };
    for (const [key, value] of Object.entries(change)) {
      if (value === undefined) delete next[key];
      else next[key] = value;
    }
    const answer = await vaultApi(addr, token, "POST", KV_PATH(user), {
      data: next,
      options: { cas: current.version },
    });
    if (answer.status === 200) return answer.body.data.version;
    if (answer.status !== 400) throw new Error(`write ${KV_PATH(user)}: HTTP ${answer.status}`);
  }
  throw new Error(`write ${KV_PATH(user)}: too many check-and-set conflicts`);
}

function fileFacts(path) {
  const stat = lstatSync(path);
  const owner = execFileSync("getent", ["passwd", String(stat.uid)])
    .toString()
    .split(":")[0];
  return `${(stat.mode & 0o777).toString(8).padStart(4, "0")} ${owner}`;
}

function retry(fn) {
  for (let attempt = 1; ; attempt++) {
    try {
      return fn();
    } catch (error) {
      if (attempt >= 20) throw error;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
    }
  }
}

// ---- the walk-through -----------------------------------------------------------------------------

async function main() {
  if (process.getuid?.() !== 0) {
    process.stderr.write(
      "The demo needs root: it creates a throwaway user (useradd) and runs the login path as pam_exec does (as root).\n" +
        "It never touches your own home or Vault. Run it as: sudo npm run demo\n",
    );
    return 2;
  }

  heading("The binary");
  if (!existsSync(BINARY)) {
    say("dist/claude-auth is missing: npm run build");
    execFileSync("npm", ["run", "build"], { cwd: ROOT, stdio: ["ignore", "inherit", "inherit"] });
  }
  const version = await claudeAuth(["--version"]);
  say(`${BINARY}: ${version.stdout.trim()}`);

  heading("A Vault stand-in on loopback (no real Vault)");
  const work = mkdtempSync(join(tmpdir(), "claude-auth-demo-"));
  chmodSync(work, 0o755);
  undo.push([`the scratch directory ${work}`, () => rmSync(work, { recursive: true, force: true })]);
  const { build } = await import("esbuild");
  const bundle = join(work, "vault-standin.mjs");
  await build({
    entryPoints: [join(ROOT, "test", "vault", "standin.ts")],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    outfile: bundle,
    logLevel: "silent",
  });
  const { startVaultStandIn } = await import(pathToFileURL(bundle).href);
  const vault = await startVaultStandIn();
  undo.push(["the Vault stand-in", () => vault.close()]);
  say(`VAULT_ADDR=${vault.addr} (test/vault/standin.ts, bundled with esbuild; KV v2 mounted at secret/)`);

  heading("A throwaway user");
  const user = `casdemo${randomBytes(3).toString("hex")}`;
  retry(() => execFileSync("useradd", ["--create-home", "--shell", "/bin/bash", user], { stdio: "pipe" }));
  undo.push([
    `the user ${user} and its home`,
    () => {
      try {
        execFileSync("pkill", ["-KILL", "-u", user], { stdio: "ignore" });
      } catch {}
      retry(() => execFileSync("userdel", ["--remove", "--force", user], { stdio: "pipe" }));
    },
  ]);
  const [, , uid, , , home] = execFileSync("getent", ["passwd", user]).toString().trim().split(":");
  say(`${user} (uid ${uid}), home ${home}`);

  heading("The host's configuration and Vault token");
  const policy = await vaultApi(
    vault.addr,
    vault.rootToken,
    "PUT",
    "sys/policies/acl/claude-auth-sync-host",
    {
      policy: HOST_POLICY,
    },
  );
  if (policy.status >= 300) throw new Error(`policy: HTTP ${policy.status}`);
  const created = await vaultApi(vault.addr, vault.rootToken, "POST", "auth/token/create", {
    policies: ["claude-auth-sync-host"],
    ttl: "1h",
    no_parent: true,
  });
  const hostToken = created.body.auth.client_token;
  const tokenFile = join(work, "host-token");
  writeFileSync(tokenFile, `${hostToken}\n`, { mode: 0o600 });
  const metricsDir = join(work, "metrics");
  mkdirSync(metricsDir, { mode: 0o755 });
  const serviceEnvDir = join(work, "service", "env");
  const configPath = join(work, "config.env");
  const config = [
    `VAULT_ADDR=${vault.addr}`,
    `CLAUDE_AUTH_SYNC_TOKEN_FILE=${tokenFile}`,
    // The walk-through shows the host identity; user mode (the default) is in README, "Whose Vault identity".
    "CLAUDE_AUTH_SYNC_IDENTITY=host",
    `CLAUDE_AUTH_SYNC_METRICS_DIR=${metricsDir}`,
    `CLAUDE_AUTH_SYNC_SERVICE_ENV_DIR=${serviceEnvDir}`,
  ];
  writeFileSync(configPath, `${config.join("\n")}\n`, { mode: 0o644 });
  say(`${configPath} (${fileFacts(configPath)}):`);
  show(readFileSync(configPath, "utf8"));
  say(`${tokenFile} (${fileFacts(tokenFile)}): a token with policy claude-auth-sync-host only`);
  show(HOST_POLICY);
  const withConfig = ["--config", configPath];

  heading("Another tool's key in the user's Vault document");
  const sibling = `demo-${randomBytes(4).toString("hex")}`;
  await vaultApi(vault.addr, vault.rootToken, "POST", KV_PATH(user), {
    data: { vaultwarden_demo: sibling },
    options: { cas: 0 },
  });
  say(`secret/workstation/claude-users/${user}: vaultwarden_demo=${sibling} (version 1)`);

  heading("claude-auth enable (a setup token from `claude setup-token`, on stdin)");
  const setupToken = `sk-ant-oat01-${randomBytes(48).toString("base64url")}`;
  secrets.add(setupToken);
  say(
    `setup token: ${mask(setupToken)} (made up for the demo; a real one comes from \`claude setup-token\`)`,
  );
  say(`$ claude setup-token | sudo claude-auth enable --user ${user} --no-verify`);
  const enabled = await claudeAuth(["enable", "--user", user, "--no-verify", ...withConfig], {
    stdin: `${setupToken}\n`,
  });
  if (notUsable(enabled)) {
    say(`\`claude-auth enable\` ${notUsable(enabled)}; doing what it does through Vault's API:`);
    say("a merge of setup_token into the document (read, merge, write with cas = the version read)");
    const written = await mergeWrite(vault.addr, hostToken, user, { setup_token: setupToken });
    say(`setup_token merged: the document is now at version ${written}`);
  } else {
    show(enabled.stdout);
    show(enabled.stderr);
    say(`exit ${enabled.code}`);
    if (enabled.code !== 0) throw new Error("claude-auth enable failed");
  }

  heading("A login: claude-auth pam (what pam_exec runs at session open)");
  say(`$ PAM_USER=${user} PAM_TYPE=open_session claude-auth pam --config ${configPath}`);
  const pam = await claudeAuth(["pam", ...withConfig], {
    // pam_exec passes only the PAM items: no PATH, no HOME.
    env: { PAM_USER: user, PAM_TYPE: "open_session" },
  });
  show(pam.stderr);
  say(`exit ${pam.code} (a login never fails on our account unless CLAUDE_AUTH_SYNC_PAM_STRICT=1)`);
  if (pam.code !== 0) throw new Error("claude-auth pam failed");

  heading("claude-auth status");
  say(`$ sudo claude-auth status --user ${user}`);
  const status = await claudeAuth(["status", "--user", user, ...withConfig]);
  if (notUsable(status)) {
    say(`\`claude-auth status\` ${notUsable(status)}; the dry-run plan and the state file instead:`);
    const dry = await claudeAuth(["sync", "--user", user, "--dry-run", ...withConfig]);
    show(dry.stdout);
    show(dry.stderr);
    const stateFile = join(home, ".config", "claude-auth-sync", "state.json");
    if (existsSync(stateFile)) show(`state.json: ${readFileSync(stateFile, "utf8")}`);
  } else {
    show(status.stdout);
    show(status.stderr);
  }
  const metrics = join(metricsDir, `claude-auth-sync-${user}.prom`);
  if (existsSync(metrics)) {
    const valid = readFileSync(metrics, "utf8")
      .split("\n")
      .filter(
        (line) => line.startsWith("claude_auth_sync_valid") || line.startsWith("claude_auth_sync_mode"),
      );
    say("metrics for node_exporter (WorkstationClaudeAuthInvalid fires on valid == 0):");
    show(valid.join("\n"));
  }

  heading("The env file Claude Code reads (the token itself is never shown)");
  const envDir = join(home, ".config", "claude-auth-sync");
  const envFile = join(envDir, "claude-oauth.env");
  if (!existsSync(envFile)) throw new Error(`${envFile} was not written`);
  say(`${envDir}/ ${fileFacts(envDir)}`);
  say(`${envFile} ${fileFacts(envFile)}`);
  show(readFileSync(envFile, "utf8"));
  const serviceCopy = join(serviceEnvDir, `${user}.env`);
  if (existsSync(serviceCopy))
    say(`${serviceCopy} ${fileFacts(serviceCopy)} (the root-owned copy t3-serve@${user} loads)`);

  heading("The other tool's key survived");
  const afterEnable = await readDocument(vault.addr, vault.rootToken, user);
  say(`keys now: ${Object.keys(afterEnable.data).sort().join(", ")} (version ${afterEnable.version})`);
  if (afterEnable.data.vaultwarden_demo !== sibling) throw new Error("vaultwarden_demo was lost");
  say(`vaultwarden_demo=${afterEnable.data.vaultwarden_demo}: unchanged`);
  const writes = vault.requests.filter((r) => r.method === "POST" && r.logicalPath === KV_PATH(user));
  const withCas = writes.filter((r) => typeof r.body?.options?.cas === "number").length;
  say(
    `writes to the document: ${writes.length}, ${withCas} with check-and-set; HTTP PATCH requests: ${vault.countRequests({ method: "PATCH" })}`,
  );

  heading("claude-auth disable");
  say(`$ sudo claude-auth disable --user ${user}`);
  const disabled = await claudeAuth(["disable", "--user", user, ...withConfig]);
  if (notUsable(disabled)) {
    say(`\`claude-auth disable\` ${notUsable(disabled)}; doing what it does:`);
    say("remove setup_token with a merge (every other key kept), then one sync removes the env file");
    await mergeWrite(vault.addr, hostToken, user, { setup_token: undefined });
    const sync = await claudeAuth(["sync", "--user", user, ...withConfig]);
    show(sync.stdout);
    show(sync.stderr);
    if (sync.code !== 0) throw new Error(`claude-auth sync exited ${sync.code}`);
  } else {
    show(disabled.stdout);
    show(disabled.stderr);
    if (disabled.code !== 0) throw new Error(`claude-auth disable exited ${disabled.code}`);
  }
  say(`env file: ${existsSync(envFile) ? "STILL THERE" : "gone"}`);
  say(`t3-serve@ copy: ${existsSync(serviceCopy) ? "STILL THERE" : "gone"}`);
  const afterDisable = await readDocument(vault.addr, vault.rootToken, user);
  say(`keys now: ${Object.keys(afterDisable.data).sort().join(", ") || "(none)"}`);
  if (existsSync(envFile)) throw new Error("the env file is still there after disable");
  if (afterDisable.data.vaultwarden_demo !== sibling) throw new Error("vaultwarden_demo was lost");
  if ("setup_token" in afterDisable.data) throw new Error("setup_token is still in the document");
  say(
    "back on the rotating per-user login; restart a running service with: sudo systemctl restart t3-serve@<user>",
  );
  return 0;
}

let exitCode = 1;
try {
  exitCode = await main();
  if (exitCode === 0) process.stdout.write("\nDemo finished: every step worked.\n");
} catch (error) {
  process.stdout.write(`\nDemo FAILED: ${mask(error instanceof Error ? error.message : String(error))}\n`);
  exitCode = 1;
} finally {
  if (undo.length > 0) heading("Clean up");
  await cleanup();
}
process.exit(exitCode);
