// A real 3-node Vault HA cluster on loopback: integrated storage (raft), one process per node with its own
// API and cluster port and data directory under one temp directory, plain-http listeners. Initialised
// (1 key share) and unsealed through the HTTP API, nodes 2 and 3 joined with sys/storage/raft/join, then
// configured as the runbook's fleet Vault: KV v2 at secret/ and the host policy with a host token.
// Every node can be killed (any signal: SIGKILL for a crash, SIGSTOP for a frozen process), restarted,
// sealed, unsealed and stepped down. close() kills every process and removes the directory, and a failed
// start cleans up the same way.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ApiAnswer, freePort, HOST_POLICY, vaultApi } from "../helpers/vault-api.js";
import { HOST_POLICY_NAME, type ServerBinary, serverBinary } from "./bootstrap.js";

export type HttpAnswer = ApiAnswer;

/** The CA of TLS clusters (startHaCluster with tls): the harness's https calls trust it. */
const clusterCas: Buffer[] = [];

/** One request with its own short timeout (a frozen node must not stall the harness). */
export function call(
  addr: string,
  token: string | undefined,
  method: string,
  path: string,
  payload?: unknown,
  timeoutMs = 2000,
): Promise<HttpAnswer> {
  return vaultApi(addr, token, method, path, payload, { timeoutMs, ca: clusterCas });
}

export type NodeState = "active" | "standby" | "sealed" | "down" | "unresponsive" | "other";

export interface HaNode {
  /** node1, node2, node3 (the raft node_id). */
  id: string;
  /** http://127.0.0.1:<api port>: the node's api_addr. */
  addr: string;
  clusterAddr: string;
  /** The current process's pid (changes on restart); 0 when not running. */
  readonly pid: number;
  readonly running: boolean;
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Stops the process if it runs (SIGCONT first if frozen, then SIGKILL), starts it again, unseals unless told not to. */
  restart(options?: { unseal?: boolean }): Promise<void>;
  seal(): Promise<void>;
  unseal(): Promise<void>;
  /** sys/step-down on this node (it should be the active one). */
  stepDown(): Promise<HttpAnswer>;
  /** sys/health, classified; never waits more than timeoutMs. */
  state(timeoutMs?: number): Promise<NodeState>;
  log(): string;
}

export interface HaCluster {
  /** With `tls`: the CA (PEM file) that signed every node's certificate; for VAULT_CACERT. */
  caFile: string | undefined;
  binary: ServerBinary;
  version: string;
  rootToken: string;
  /** A token with the host policy only. */
  hostToken: string;
  unsealKey: string;
  dir: string;
  nodes: HaNode[];
  /** The active node (sys/health 200), waiting up to timeoutMs for one. */
  leader(timeoutMs?: number): Promise<HaNode>;
  /** Unsealed standbys (sys/health 429) right now. */
  standbys(): Promise<HaNode[]>;
  /** Waits for an active node and `voters` raft voters, all of them unsealed and healthy. */
  settle(timeoutMs?: number, voters?: number): Promise<HaNode>;
  raftConfiguration(): Promise<{ node_id: string; address: string; leader: boolean; voter: boolean }[]>;
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = (error as Error).message;
    }
    await sleep(100);
  }
  throw new Error(`HA cluster: ${what}: not within ${timeoutMs} ms${last ? ` (${last})` : ""}`);
}

async function must(addr: string, token: string | undefined, method: string, path: string, body?: unknown) {
  const answer = await call(addr, token, method, path, body, 10_000);
  if (answer.status >= 300)
    throw new Error(
      `HA cluster: ${method} ${path} at ${addr}: HTTP ${answer.status} ${JSON.stringify(answer.body)}`,
    );
  return answer.body ?? {};
}

/** Starts, initialises and configures the cluster. On any failure everything started is cleaned up. */
/** A private CA and one server certificate for 127.0.0.1 (every node's listener), made with openssl. */
function makeCertificates(dir: string): { caFile: string; certFile: string; keyFile: string } {
  const at = (name: string) => join(dir, name);
  const openssl = (args: string[]) => execFileSync("openssl", args, { stdio: "ignore" });
  openssl([
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    at("ca.key"),
    "-out",
    at("ca.pem"),
    "-days",
    "2",
    "-subj",
    "/CN=cas-ha-test-ca",
  ]);
  openssl([
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    at("node.key"),
    "-out",
    at("node.csr"),
    "-subj",
    "/CN=127.0.0.1",
  ]);
  writeFileSync(at("node.ext"), "subjectAltName = IP:127.0.0.1\nextendedKeyUsage = serverAuth, clientAuth\n");
  openssl([
    "x509",
    "-req",
    "-in",
    at("node.csr"),
    "-CA",
    at("ca.pem"),
    "-CAkey",
    at("ca.key"),
    "-CAcreateserial",
    "-out",
    at("node.pem"),
    "-days",
    "2",
    "-extfile",
    at("node.ext"),
  ]);
  return { caFile: at("ca.pem"), certFile: at("node.pem"), keyFile: at("node.key") };
}

export async function startHaCluster(size = 3, options: { tls?: boolean } = {}): Promise<HaCluster> {
  const binary = serverBinary();
  const dir = mkdtempSync(join(tmpdir(), "cas-vault-ha-"));
  const certificates = options.tls ? makeCertificates(dir) : undefined;
  const caPem = certificates ? readFileSync(certificates.caFile, "utf8") : undefined;
  if (caPem) clusterCas.push(Buffer.from(caPem));
  const children = new Set<ChildProcess>();
  let rootToken = "";
  let unsealKey = "";

  const killAll = async () => {
    const exits: Promise<unknown>[] = [];
    for (const child of children) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      exits.push(new Promise((resolve) => child.once("exit", resolve)));
      try {
        child.kill("SIGCONT");
        child.kill("SIGKILL");
      } catch {}
    }
    await Promise.race([Promise.all(exits), sleep(5000)]);
    children.clear();
  };
  const onExit = () => {
    for (const child of children) {
      try {
        child.kill("SIGKILL");
      } catch {}
    }
    rmSync(dir, { recursive: true, force: true });
  };
  process.once("exit", onExit);

  const makeNode = async (index: number): Promise<HaNode> => {
    const id = `node${index + 1}`;
    const apiPort = await freePort();
    const clusterPort = await freePort();
    const addr = `${certificates ? "https" : "http"}://127.0.0.1:${apiPort}`;
    const clusterAddr = `https://127.0.0.1:${clusterPort}`;
    const nodeDir = join(dir, id);
    mkdirSync(join(nodeDir, "data"), { recursive: true });
    const configFile = join(nodeDir, "config.hcl");
    const logFile = join(nodeDir, "server.log");
    writeFileSync(
      configFile,
      `storage "raft" {
  path = "${join(nodeDir, "data")}"
  node_id = "${id}"
  performance_multiplier = 1
}
listener "tcp" {
  address = "127.0.0.1:${apiPort}"
  cluster_address = "127.0.0.1:${clusterPort}"
${certificates ? `  tls_cert_file = "${certificates.certFile}"\n  tls_key_file = "${certificates.keyFile}"` : "  tls_disable = true"}
}
api_addr = "${addr}"
cluster_addr = "${clusterAddr}"
disable_mlock = true
ui = false
log_level = "info"
`,
    );
    let child: ChildProcess | undefined;
    const start = async () => {
      const log = openSync(logFile, "a");
      const started = spawn(binary.path, ["server", `-config=${configFile}`], {
        env: {
          PATH: process.env.PATH ?? "/usr/bin:/bin",
          HOME: nodeDir,
          VAULT_ADDR: addr,
          ...(certificates ? { VAULT_CACERT: certificates.caFile } : {}),
        },
        stdio: ["ignore", log, log],
      });
      children.add(started);
      started.once("exit", () => children.delete(started));
      child = started;
      // Up when sys/health answers at all (501 uninitialised, 503 sealed, ...).
      await until(`${id} listening`, 30_000, async () => {
        if (started.exitCode !== null)
          throw new Error(`${id} exited ${started.exitCode}: ${readFileSync(logFile, "utf8").slice(-2000)}`);
        const health = await call(addr, undefined, "GET", "sys/health", undefined, 1000);
        return health.status > 0 ? true : undefined;
      });
    };
    const running = () => child !== undefined && child.exitCode === null && child.signalCode === null;
    const node: HaNode = {
      id,
      addr,
      clusterAddr,
      get pid() {
        return running() ? (child?.pid ?? 0) : 0;
      },
      get running() {
        return running();
      },
      async kill(signal: NodeJS.Signals = "SIGKILL") {
        if (!child || !running()) return;
        const current = child;
        if (signal === "SIGKILL" || signal === "SIGTERM") {
          const exited = new Promise((resolve) => current.once("exit", resolve));
          current.kill("SIGCONT");
          current.kill(signal);
          await Promise.race([exited, sleep(10_000)]);
        } else current.kill(signal);
      },
      async restart(options = {}) {
        await node.kill("SIGKILL");
        await start();
        if (options.unseal !== false) await node.unseal();
      },
      async seal() {
        // sys/seal on a standby is forwarded to the active node (which it would seal): a standby is
        // sealed by restarting it without the unseal; the active node by sys/seal.
        if ((await node.state(2000)) === "active") {
          const answer = await call(addr, rootToken, "PUT", "sys/seal", undefined, 10_000);
          if (answer.status >= 300) await node.restart({ unseal: false });
        } else await node.restart({ unseal: false });
        await until(`${id} sealed`, 10_000, async () =>
          (await node.state()) === "sealed" ? true : undefined,
        );
      },
      async unseal() {
        await until(`${id} unsealed`, 30_000, async () => {
          const answer = await call(addr, undefined, "PUT", "sys/unseal", { key: unsealKey }, 5000);
          return answer.status === 200 && answer.body?.sealed === false ? true : undefined;
        });
      },
      stepDown: () => call(addr, rootToken, "PUT", "sys/step-down", undefined, 10_000),
      async state(timeoutMs = 500) {
        try {
          const health = await call(addr, undefined, "GET", "sys/health", undefined, timeoutMs);
          if (health.status === 200 && health.body?.standby === false) return "active";
          if (health.status === 429 || health.status === 473) return "standby";
          if (health.status === 503) return "sealed";
          return "other";
        } catch (error) {
          return /timeout/.test((error as Error).message) ? "unresponsive" : "down";
        }
      },
      log: () => readFileSync(logFile, "utf8"),
    };
    (node as unknown as { start: () => Promise<void> }).start = start;
    return node;
  };

  try {
    const nodes: HaNode[] = [];
    for (let i = 0; i < size; i++) nodes.push(await makeNode(i));
    await Promise.all(nodes.map((n) => (n as unknown as { start: () => Promise<void> }).start()));
    const first = nodes[0] as HaNode;
    const init = await must(first.addr, undefined, "PUT", "sys/init", {
      secret_shares: 1,
      secret_threshold: 1,
    });
    rootToken = String(init.root_token ?? "");
    unsealKey = String((init.keys_base64 as string[] | undefined)?.[0] ?? "");
    if (!rootToken || !unsealKey)
      throw new Error(`HA cluster: sys/init gave no root token or key: ${JSON.stringify(init)}`);
    await first.unseal();
    await until("node1 active", 30_000, async () => ((await first.state()) === "active" ? true : undefined));
    // Joining nodes become voters after autopilot's stabilization time (10 s by default): shorten it.
    await until("autopilot configuration", 10_000, async () => {
      const answer = await call(first.addr, rootToken, "POST", "sys/storage/raft/autopilot/configuration", {
        server_stabilization_time: "1s",
        cleanup_dead_servers: false,
      });
      return answer.status < 300 ? true : undefined;
    });
    for (const node of nodes.slice(1)) {
      await until(`${node.id} joins`, 30_000, async () => {
        const answer = await call(
          node.addr,
          undefined,
          "PUT",
          "sys/storage/raft/join",
          {
            leader_api_addr: first.addr,
            ...(caPem ? { leader_ca_cert: caPem } : {}),
          },
          10_000,
        );
        return answer.status === 200 && answer.body?.joined === true ? true : undefined;
      });
      await node.unseal();
    }

    const raftConfiguration = async () => {
      const lead = await leader();
      const answer = await must(lead.addr, rootToken, "GET", "sys/storage/raft/configuration");
      return ((answer.data as { config?: { servers?: unknown[] } } | undefined)?.config?.servers ?? []) as {
        node_id: string;
        address: string;
        leader: boolean;
        voter: boolean;
      }[];
    };
    const leader = (timeoutMs = 15_000) =>
      until("an active node", timeoutMs, async () => {
        const states = await Promise.all(nodes.map((n) => n.state()));
        const index = states.indexOf("active");
        return index >= 0 ? nodes[index] : undefined;
      });
    let why = "";
    const settle = (timeoutMs = 30_000, voters = size) =>
      until(`an active node and ${voters} healthy voters`, timeoutMs, async () => {
        const states = await Promise.all(nodes.map((n) => n.state()));
        why = `states ${states.join(",")}`;
        const active = states.filter((s) => s === "active").length;
        const standby = states.filter((s) => s === "standby").length;
        if (active !== 1 || active + standby < voters) return undefined;
        const lead = nodes[states.indexOf("active")] as HaNode;
        const answer = await call(lead.addr, rootToken, "GET", "sys/storage/raft/configuration");
        const servers = ((answer.body?.data as { config?: { servers?: { voter: boolean }[] } } | undefined)
          ?.config?.servers ?? []) as { voter: boolean }[];
        why += ` raft ${JSON.stringify(servers)}`;
        if (servers.filter((s) => s.voter).length < voters) return undefined;
        // Autopilot's view: every server healthy (a restarted follower has caught up).
        const state = await call(lead.addr, rootToken, "GET", "sys/storage/raft/autopilot/state");
        const healthy =
          (state.body?.data as { healthy?: unknown } | undefined)?.healthy ?? state.body?.healthy;
        why += ` autopilot ${state.status} healthy=${healthy}`;
        if (state.status !== 200 || healthy !== true) return undefined;
        // A standby that has found the active node forwards: a token lookup through each one.
        for (const [i, node] of nodes.entries()) {
          if (states[i] !== "standby") continue;
          const lookup = await call(node.addr, rootToken, "GET", "auth/token/lookup-self");
          why += ` lookup via ${node.id}: ${lookup.status}`;
          if (lookup.status !== 200) return undefined;
        }
        return lead;
      }).catch((error: Error) => {
        throw new Error(`${error.message}: ${why}`);
      });

    await settle(60_000);
    const lead = await leader();
    await must(lead.addr, rootToken, "POST", "sys/mounts/secret", { type: "kv", options: { version: "2" } });
    // KV v2 upgrades its mount in the background: wait until it accepts a write.
    await until("KV v2 at secret/ ready", 20_000, async () => {
      const answer = await call(lead.addr, rootToken, "POST", "secret/data/ha-probe", { data: { ok: true } });
      return answer.status === 200 ? true : undefined;
    });
    // Through call(), which trusts a TLS cluster's CA (the helpers' fetch would not).
    await must(lead.addr, rootToken, "PUT", `sys/policies/acl/${HOST_POLICY_NAME}`, { policy: HOST_POLICY });
    const created = await must(lead.addr, rootToken, "POST", "auth/token/create", {
      policies: [HOST_POLICY_NAME],
      ttl: "4h",
      no_parent: true,
    });
    const hostToken = String((created.auth as { client_token?: unknown } | undefined)?.client_token ?? "");
    const health = await must(lead.addr, undefined, "GET", "sys/health");

    return {
      caFile: certificates?.caFile,
      binary,
      version: String(health.version ?? ""),
      rootToken,
      hostToken,
      unsealKey,
      dir,
      nodes,
      leader,
      async standbys() {
        const states = await Promise.all(nodes.map((n) => n.state()));
        return nodes.filter((_, i) => states[i] === "standby");
      },
      settle,
      raftConfiguration,
      async close() {
        await killAll();
        process.removeListener("exit", onExit);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    const logs = [1, 2, 3]
      .map((i) => {
        try {
          return `--- node${i}:\n${readFileSync(join(dir, `node${i}`, "server.log"), "utf8").slice(-3000)}`;
        } catch {
          return "";
        }
      })
      .join("\n");
    await killAll();
    process.removeListener("exit", onExit);
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`${(error as Error).message}\n${logs}`);
  }
}
