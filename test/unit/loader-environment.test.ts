// The variables the loader, glibc, OpenSSL, libuv or Node read before our code: an attack indicator
// in a root process started by pam_exec. The list, then the binary refusing to act on them.
import t from "tap";
import { isLoaderVariable, loaderVariables } from "../../src/system/loader-environment.js";
import { runBinary } from "../helpers/cli.js";
import { isRoot } from "../helpers/users.js";
import { setupToken, workstation } from "../sync/fixture.js";

t.test("every family the loader and Node read counts; ordinary session variables do not", async (t) => {
  for (const name of [
    "LD_PRELOAD",
    "LD_AUDIT",
    "LD_LIBRARY_PATH",
    "GLIBC_TUNABLES",
    "MALLOC_ARENA_MAX",
    "OPENSSL_CONF",
    "OPENSSL_MODULES",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "SSLKEYLOGFILE",
    "NODE_OPTIONS",
    "NODE_V8_COVERAGE",
    "NODE_EXTRA_CA_CERTS",
    "NODE_TLS_REJECT_UNAUTHORIZED",
    "UV_THREADPOOL_SIZE",
    "GCONV_PATH",
    "LOCPATH",
    "TMPDIR",
    "TZDIR",
    "ICU_DATA",
  ]) {
    t.ok(isLoaderVariable(name), name);
  }
  for (const name of ["PAM_USER", "PAM_TYPE", "LANG", "LC_ALL", "TZ", "PATH", "XDG_SESSION_ID", "MAIL"]) {
    t.notOk(isLoaderVariable(name), `${name} is not`);
  }
  t.same(loaderVariables({ PAM_USER: "a", NODE_DEBUG: "x", LD_PRELOAD: "/x.so" }), [
    "LD_PRELOAD",
    "NODE_DEBUG",
  ]);
});

t.test(
  "as root under pam_exec, a loader variable stops the run: logged by name, nothing synced",
  async (t) => {
    if (!isRoot) {
      t.plan(0, "SKIPPED: the refusal applies to root only; run as root (CI does)");
      if (process.env.CI === "true") t.fail("CI must run as root");
      return;
    }
    const ws = await workstation(t);
    await ws.seed({ setup_token: setupToken("N") });
    ws.vault.clearRequests();
    const run = await runBinary(["pam", "--config", ws.config], {
      env: {
        PAM_USER: ws.user.name,
        PAM_TYPE: "open_session",
        NODE_REDIRECT_WARNINGS: "/tmp/cas-secret-path-warnings",
        "NODE_X\u001b[2J": "/tmp/cas-secret-path-tmp",
      },
    });
    t.equal(run.code, 0, "exit 0: the login goes on");
    t.match(run.stderr, `user=${ws.user.name} refused: the PAM environment sets NODE_REDIRECT_WARNINGS`);
    t.notMatch(run.stderr, "cas-secret-path", "values are never printed");
    t.notMatch(run.stderr, "\u001b", "a name's control bytes are shown escaped");
    t.equal(ws.vault.requests.length, 0, "no Vault request");
    t.same(ws.homeSnapshot(), ws.homeSnapshot(), "home readable");
    t.notOk((await import("node:fs")).existsSync(ws.envFile), "no env file written");

    const clean = await runBinary(["pam", "--config", ws.config], {
      env: { PAM_USER: ws.user.name, PAM_TYPE: "open_session" },
    });
    t.equal(clean.code, 0);
    t.ok((await import("node:fs")).existsSync(ws.envFile), "control: without them the same login syncs");
  },
);
