import t from "tap";
import { vaultContract } from "./contract.js";
import { startVaultStandIn } from "./standin.js";

t.test("Vault contract against the stand-in", async (t) => {
  vaultContract(t, () => startVaultStandIn());
});
