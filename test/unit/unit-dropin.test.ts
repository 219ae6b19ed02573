// The per-instance t3-serve drop-in: only for homes the static /home/%I drop-in cannot reach.
import t from "tap";
import { InvalidDataError } from "../../src/errors.js";
import { instanceDropIn, instanceDropInPath, staticEnvFilePath } from "../../src/system/unit-dropin.js";

t.test("a home at /home/<name> needs no per-instance drop-in", async (t) => {
  for (const home of ["/home/alice", "/home/alice/", "/home//alice", "/home/./alice"]) {
    t.equal(instanceDropIn({ name: "alice", home }), null, home);
  }
});

t.test("a home elsewhere gets a drop-in that loads the env file from the real home", async (t) => {
  const table = [
    {
      name: "alice",
      home: "/net/home/alice",
      envFile: "/net/home/alice/.config/claude-auth-sync/claude-oauth.env",
    },
    {
      name: "bob",
      home: "/home/other/bob",
      envFile: "/home/other/bob/.config/claude-auth-sync/claude-oauth.env",
    },
    {
      name: "carol",
      home: "/home/carol2",
      envFile: "/home/carol2/.config/claude-auth-sync/claude-oauth.env",
    },
    {
      name: "dave@corp.example",
      home: "/home/corp.example/dave",
      envFile: "/home/corp.example/dave/.config/claude-auth-sync/claude-oauth.env",
    },
    { name: "erin", home: "/u/erin/", envFile: "/u/erin/.config/claude-auth-sync/claude-oauth.env" },
  ];
  for (const { name, home, envFile } of table) {
    const dropIn = instanceDropIn({ name, home });
    if (dropIn === null) {
      t.fail(`${name}: expected a drop-in for ${home}`);
      continue;
    }
    const lines = dropIn.split("\n").filter((line) => line !== "" && !line.startsWith("#"));
    t.same(lines, ["[Service]", `EnvironmentFile=-${envFile}`], `${name} at ${home}`);
  }
});

t.test("a percent sign in a home is escaped so systemd does not read it as a specifier", async (t) => {
  const dropIn = instanceDropIn({ name: "frank", home: "/srv/100%/frank" });
  t.match(dropIn, /^EnvironmentFile=-\/srv\/100%%\/frank\/\.config\/claude-auth-sync\/claude-oauth\.env$/m);
});

t.test("a home systemd would glob or split is refused with exit code 6", async (t) => {
  for (const home of [
    "/srv/*/gina",
    "/srv/g?na",
    "/srv/[g]ina",
    "/srv/back\\slash",
    "/srv/new\nline",
    "relative/home",
  ]) {
    t.throws(() => instanceDropIn({ name: "gina", home }), InvalidDataError, JSON.stringify(home));
  }
});

t.test("an invalid login name never reaches a unit file or a path", async (t) => {
  for (const name of ["../etc", "a/b", "", "x\ny", "%i"]) {
    t.throws(() => instanceDropIn({ name, home: "/srv/x" }), InvalidDataError, JSON.stringify(name));
    t.throws(() => instanceDropInPath(name), InvalidDataError, JSON.stringify(name));
  }
});

t.test("paths: the per-instance drop-in masks the static one by sharing its file name", async (t) => {
  t.equal(instanceDropInPath("alice"), "/etc/systemd/system/t3-serve@alice.service.d/claude-auth.conf");
  t.equal(staticEnvFilePath("alice"), "/home/alice/.config/claude-auth-sync/claude-oauth.env");
});
