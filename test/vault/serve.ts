// Starts the Vault stand-in on loopback for demos and manual poking:
//   VAULT_STANDIN_PORT=8200 node --import=<a TypeScript loader> test/vault/serve.ts
// Prints VAULT_ADDR and VAULT_TOKEN lines a shell can eval, then serves until interrupted.
import { pathToFileURL } from "node:url";
import { startVaultStandIn } from "./standin.js";

export async function main(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const port = env.VAULT_STANDIN_PORT === undefined ? 0 : Number(env.VAULT_STANDIN_PORT);
  const vault = await startVaultStandIn({
    port,
    ...(env.VAULT_STANDIN_ROOT_TOKEN ? { rootToken: env.VAULT_STANDIN_ROOT_TOKEN } : {}),
  });
  process.stdout.write(`export VAULT_ADDR=${vault.addr}\nexport VAULT_TOKEN=${vault.rootToken}\n`);
  process.stdout.write(`# unseal key: ${vault.unsealKey}\n# Ctrl-C to stop\n`);
  const stop = () => {
    void vault.close().then(() => process.exit(0));
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    process.stderr.write(`vault stand-in: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
