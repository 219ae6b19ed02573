// VAULT_ADDR listing a cluster's nodes (comma-separated): a node that is down, sealed or frozen does not
// fail the run; the next one answers, within the run's budget. The real 3-node cluster version of this
// is test/vault-real/ha.vault-real.ts.
import { readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import t, { type Test } from "tap";
import { requireRoot } from "../helpers/users.js";
import { setupToken, workstation } from "./fixture.js";

/** A TCP server that accepts connections and then answers `reply` (or nothing at all: a frozen node). */
async function fakeNode(t: Test, reply?: string): Promise<string> {
  const sockets: Socket[] = [];
  const server: Server = createServer((socket) => {
    sockets.push(socket);
    socket.on("error", () => undefined);
    if (reply) socket.once("data", () => socket.end(reply));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  const address = server.address();
  return `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
}

const SEALED_BODY = '{"errors":["Vault is sealed"]}';
const SEALED = `HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: ${SEALED_BODY.length}\r\n\r\n${SEALED_BODY}`;

t.test("a node that is down, sealed or frozen first in VAULT_ADDR: the next one answers", async (t) => {
  if (!requireRoot(t)) return;
  const ws = await workstation(t, { CLAUDE_AUTH_SYNC_TIMEOUT_MS: "3000" });
  await ws.seed({ setup_token: setupToken("L"), vaultwarden_x: "kept" });
  const config = readFileSync(ws.config, "utf8");
  const firstNodes: Array<[string, string]> = [
    ["down (connection refused)", "http://127.0.0.1:1"],
    ["sealed", await fakeNode(t, SEALED)],
    ["frozen (accepts, never answers)", await fakeNode(t)],
  ];
  for (const [name, first] of firstNodes) {
    writeFileSync(
      ws.config,
      config.replace(`VAULT_ADDR=${ws.vault.addr}`, `VAULT_ADDR=${first},${ws.vault.addr}`),
    );
    const run = await ws.sync(["--json"]);
    t.equal(run.code, 0, `${name}: the run succeeds through the second node`, { stdout: run.stdout });
    t.ok(run.ms < 3000, `${name}: well within the 3 s budget (${run.ms} ms)`);
    t.equal(
      readFileSync(ws.envFile, "utf8"),
      `CLAUDE_CODE_OAUTH_TOKEN=${setupToken("L")}\n`,
      `${name}: the env file is right`,
    );
  }
  writeFileSync(
    ws.config,
    config.replace(`VAULT_ADDR=${ws.vault.addr}`, "VAULT_ADDR=http://127.0.0.1:1,http://127.0.0.1:2"),
  );
  const none = await ws.sync();
  t.equal(none.code, 4, "no node answers: exit 4");
  t.match(none.stdout, /connection refused/);
  writeFileSync(ws.config, config.replace(`VAULT_ADDR=${ws.vault.addr}`, `VAULT_ADDR=${ws.vault.addr},,x`));
  const bad = await ws.sync();
  t.equal(bad.code, 6, "an empty entry is invalid data, named");
  t.match(bad.stdout + bad.stderr, /VAULT_ADDR: has an empty entry/);
});
