// The token endpoint's answers mapped to results, without a server; the request Claude Code makes.
import t from "tap";
import type { RotatingCredential } from "../../src/claude/credentials.js";
import { CLAUDE_CODE_CLIENT_ID, refreshRequestBody, refreshVerdict } from "../../src/claude/oauth.js";

const NOW = Date.parse("2026-11-30T09:00:00Z");
const old: RotatingCredential = {
  accessToken: "sk-ant-oat01-old",
  refreshToken: "sk-ant-ort01-old",
  expiresAt: NOW + 60_000,
  scopes: ["user:inference", "user:profile"],
  subscriptionType: "max",
};

t.test("the request body is Claude Code's refresh grant", async (t) => {
  t.same(JSON.parse(refreshRequestBody(old)), {
    grant_type: "refresh_token",
    refresh_token: "sk-ant-ort01-old",
    client_id: CLAUDE_CODE_CLIENT_ID,
    scope: "user:inference user:profile",
  });
  t.notOk("scope" in JSON.parse(refreshRequestBody({ ...old, scopes: undefined })), "no scopes: no scope");
});

const rows: {
  name: string;
  status: number;
  body: unknown;
  kind: string;
  reason?: RegExp;
  spent?: boolean;
}[] = [
  {
    name: "200 with both tokens: renewed",
    status: 200,
    body: { access_token: "sk-ant-oat01-new", refresh_token: "sk-ant-ort01-new", expires_in: 28800 },
    kind: "renewed",
  },
  {
    name: "400 invalid_grant: rejected",
    status: 400,
    body: { error: "invalid_grant", error_description: "Refresh token sk-ant-ort01-old already used" },
    kind: "rejected",
    reason: /HTTP 400 \(invalid_grant: Refresh token sk-ant-… already used\)/,
  },
  {
    name: "401 invalid_client: failed, not rejected",
    status: 401,
    body: { error: "invalid_client" },
    kind: "failed",
    spent: false,
  },
  { name: "503: failed", status: 503, body: "<html>", kind: "failed", reason: /HTTP 503$/, spent: false },
  { name: "429: failed", status: 429, body: { error: "rate_limit_error" }, kind: "failed", spent: false },
  {
    name: "200 without a refresh token: failed, may be spent",
    status: 200,
    body: { access_token: "sk-ant-oat01-new", expires_in: 28800 },
    kind: "failed",
    spent: true,
  },
  {
    name: "200 with a bad expires_in: failed, may be spent",
    status: 200,
    body: { access_token: "a", refresh_token: "b", expires_in: "soon" },
    kind: "failed",
    spent: true,
  },
  { name: "200 not JSON: failed, may be spent", status: 200, body: "<html>", kind: "failed", spent: true },
];

for (const row of rows) {
  t.test(row.name, async (t) => {
    const text = typeof row.body === "string" ? row.body : JSON.stringify(row.body);
    const result = refreshVerdict(row.status, text, old, NOW);
    t.equal(result.kind, row.kind);
    if (result.kind !== "renewed") {
      if (row.reason) t.match(result.reason, row.reason);
      t.notMatch(result.reason, /sk-ant-o[ar]t01-[a-z]/, "no token in the reason");
    }
    if (result.kind === "failed" && row.spent !== undefined) t.equal(result.mayBeSpent, row.spent);
  });
}

t.test("a renewed credential keeps the other fields and takes the new scope", async (t) => {
  const result = refreshVerdict(
    200,
    JSON.stringify({
      access_token: "sk-ant-oat01-n",
      refresh_token: "sk-ant-ort01-n",
      expires_in: 3600,
      scope: "user:inference",
    }),
    old,
    NOW,
  );
  if (result.kind !== "renewed") return t.fail(result.kind);
  t.same(result.credential, {
    ...old,
    accessToken: "sk-ant-oat01-n",
    refreshToken: "sk-ant-ort01-n",
    expiresAt: NOW + 3_600_000,
    scopes: ["user:inference"],
  });
});
