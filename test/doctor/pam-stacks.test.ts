// doctor's PAM checks over whole stacks as PAM expands them (@include, include, substack), in
// throwaway /etc/pam.d trees: the order of pam_env user_readenv=1 and our line, type=open_session,
// and every file that runs our line rather than the alphabetically first.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t, { type Test } from "tap";
import { checkPamStacks, PAM_LINE, systemPaths } from "../../src/doctor/checks.js";
import { expandStack, parsePamFile } from "../../src/doctor/pam-stacks.js";

const OLD_LINE = PAM_LINE.replace(" type=open_session", "");
const DEBIAN_SSHD_ENV = "session    required     pam_env.so user_readenv=1 envfile=/etc/default/locale";

/** A root with an executable claude-auth, its config, and the given /etc/pam.d files. */
function tree(t: Test, files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), "cas-pam-stacks-"));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, "usr/local/bin"), { recursive: true });
  writeFileSync(join(root, "usr/local/bin/claude-auth"), "#!/bin/sh\n");
  chmodSync(join(root, "usr/local/bin/claude-auth"), 0o755);
  mkdirSync(join(root, "etc/claude-auth-sync"), { recursive: true });
  writeFileSync(join(root, "etc/claude-auth-sync/config.env"), "VAULT_ADDR=http://127.0.0.1:8200\n");
  mkdirSync(join(root, "etc/pam.d"), { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(join(root, "etc/pam.d", name), text);
  return root;
}

const commonSession = (line = PAM_LINE) =>
  [
    "session [default=1] pam_permit.so",
    "session requisite pam_deny.so",
    "session required pam_unix.so",
    line,
    "",
  ].join("\n");

const statuses = (root: string) => checkPamStacks(systemPaths(root)).map((f) => `${f.status} ${f.id}`);

t.test("Debian's sshd order (pam_env user_readenv=1 after @include common-session) passes", async (t) => {
  const root = tree(t, {
    "common-session": commonSession(),
    sshd: ["@include common-auth", "@include common-session", DEBIAN_SSHD_ENV, ""].join("\n"),
    "common-auth": "auth required pam_unix.so\n",
  });
  const findings = checkPamStacks(systemPaths(root));
  t.same(
    findings.map((f) => `${f.status} ${f.id}`),
    ["ok pam"],
  );
  t.match(
    findings[0]?.message,
    /common-session:4 runs \/usr\/local\/bin\/claude-auth pam .*run by common-session, sshd/,
  );
});

t.test(
  "pam_env user_readenv=1 before our line fails, naming both files and lines and the service",
  async (t) => {
    const root = tree(t, {
      "common-session": commonSession(),
      sshd: ["# a local edit", DEBIAN_SSHD_ENV, "@include common-session", ""].join("\n"),
      login: ["session required pam_env.so readenv=1", "@include common-session", ""].join("\n"),
    });
    const findings = checkPamStacks(systemPaths(root));
    const userEnv = findings.filter((f) => f.id === "pam-user-env");
    t.equal(userEnv.length, 1, "one finding, for sshd only: login's pam_env does not read the user's file");
    t.equal(userEnv[0]?.status, "fail");
    t.match(userEnv[0]?.message, /etc\/pam\.d\/sshd:2 \(session required pam_env\.so user_readenv=1/);
    t.match(userEnv[0]?.message, /runs before .*etc\/pam\.d\/common-session:4 in .*sshd/);
    t.match(userEnv[0]?.fix, /move that pam_env line after the line that runs claude-auth/);
  },
);

t.test(
  "pam_env user_readenv=1 in the auth stack (pam_setcred, before the session opens) fails",
  async (t) => {
    const root = tree(t, {
      "common-session": commonSession(),
      su: [
        "auth sufficient pam_rootok.so",
        "auth required pam_env.so user_readenv=1",
        "@include common-session",
        "",
      ].join("\n"),
    });
    t.ok(statuses(root).includes("fail pam-user-env"), "auth-stack pam_env counts");
  },
);

t.test("a line without type=open_session fails with the upgrade, even in a safe order", async (t) => {
  const root = tree(t, {
    "common-session": commonSession(OLD_LINE),
    sshd: ["@include common-session", DEBIAN_SSHD_ENV, ""].join("\n"),
  });
  const findings = checkPamStacks(systemPaths(root));
  const open = findings.find((f) => f.id === "pam-open-session");
  t.equal(open?.status, "fail");
  t.match(
    open?.message,
    /common-session:4 has no type=open_session: pam_exec runs claude-auth as root again at close_session/,
  );
  t.match(open?.fix, /type=open_session quiet \/usr\/local\/bin\/claude-auth pam/);
});

t.test("every file with our line is reported, not the alphabetically first one", async (t) => {
  const root = tree(t, {
    "aaa-leftover":
      "session optional pam_exec.so type=open_session quiet /opt/old/bin/claude-auth pam --config /etc/old.env\n",
    "common-session": commonSession(),
    sshd: "@include common-session\n",
  });
  const findings = checkPamStacks(systemPaths(root));
  t.equal(findings.length, 2, "one finding per line", { findings });
  t.match(
    findings.find((f) => f.message.includes("aaa-leftover"))?.message,
    /\/opt\/old\/bin\/claude-auth, which is missing/,
  );
  t.match(findings.find((f) => f.message.includes("common-session"))?.status, "ok");
});

t.test("a --config that does not exist fails", async (t) => {
  const root = tree(t, {
    "common-session": commonSession(PAM_LINE.replace("/etc/claude-auth-sync/config.env", "/etc/nope.env")),
  });
  t.match(checkPamStacks(systemPaths(root))[0]?.message, /--config \/etc\/nope\.env, which does not exist/);
});

t.test("the parser: continuations, bracket controls, includes by type, substack, cycles", async (t) => {
  const entries = parsePamFile(
    "/x",
    [
      "session [success=1 default=ignore] pam_succeed_if.so \\",
      "   quiet uid < 1000",
      "-session optional pam_systemd.so # comment",
      "auth include other",
      "session substack other",
      "@include third",
      "",
    ].join("\n"),
  );
  t.match(entries[0], {
    line: 1,
    type: "session",
    module: "pam_succeed_if.so",
    args: ["quiet", "uid", "<", "1000"],
  });
  t.match(entries[1], { line: 3, type: "session", module: "pam_systemd.so" });
  t.same(entries.slice(2), [
    { include: "other", type: "auth" },
    { include: "other", type: "session" },
    { include: "third", type: undefined },
  ]);
  const files: Record<string, string> = {
    a: "@include b\nsession required pam_a.so\n",
    b: "@include a\nsession required pam_b.so\n",
  };
  const source = {
    services: () => Object.keys(files),
    read: (name: string) => (files[name] === undefined ? undefined : { file: name, text: files[name] ?? "" }),
  };
  const stack = expandStack(source, "a", "session").map((rule) => rule.module);
  t.ok(stack.length > 0 && stack.length < 100, "a cycle ends", { modules: stack });
});
