// Vault's error strings on one line (src/vault/client.ts): go-multierror text flattened at the edge.
import t from "tap";
import { flatVaultError, vaultErrors } from "../../src/vault/client.js";

t.test("Vault's error text becomes one line with its cause", async (t) => {
  const cases: Array<[string, string]> = [
    ["1 error occurred:\n\t* permission denied\n\n", "permission denied"],
    [
      "2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n",
      "2 errors occurred: permission denied; invalid token",
    ],
    ["Vault is sealed", "Vault is sealed"],
    [
      "check-and-set parameter did not match the current version",
      "check-and-set parameter did not match the current version",
    ],
    ["line one\n\tline two\n", "line one line two"],
  ];
  for (const [raw, flat] of cases) t.equal(flatVaultError(raw), flat, JSON.stringify(raw));
});

t.test("the errors list joins flattened entries and drops empty ones", async (t) => {
  t.equal(
    vaultErrors({ errors: ["1 error occurred:\n\t* permission denied\n\n", "", "x\ny"] }),
    "permission denied; x y",
  );
  t.equal(vaultErrors({ errors: [] }), "");
  t.equal(vaultErrors("not an object"), "");
});
