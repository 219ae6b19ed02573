// The Vault contract (test/vault/contract.ts, the same code the stand-in runs) against a real Vault server.
// Not a *.test.ts file: `npm test` does not build or start a real server; `npm run test:vault-real` does.
import t from "tap";
import { vaultContract } from "../vault/contract.js";
import { describe, startRealVault } from "./bootstrap.js";
import { counting } from "./report.js";

const vault = await startRealVault();
t.teardown(() => vault.close());
t.comment(`real Vault server: ${describe(vault)}`);

vaultContract(counting(t, "contract", vault), async () => ({
  addr: vault.addr,
  rootToken: vault.rootToken,
  // One server for the whole file: the contract names everything uniquely and removes it afterwards.
  close: async () => undefined,
}));
