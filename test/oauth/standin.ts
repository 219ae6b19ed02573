// A stand-in for Claude's OAuth token endpoint: refresh-token rotation (each refresh token works
// once), optional reuse detection (a spent token revokes its whole family), and scripted faults.
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface RefreshRequest {
  body: Record<string, unknown>;
  at: number;
}

export type OAuthFault = { status: number; body?: unknown } | { delayMs: number } | { hangUp: true };

export interface OAuthStandIn {
  url: string;
  requests: RefreshRequest[];
  /** Registers a refresh token the server will honour once (a login's, or a renewal's). */
  issue(refreshToken: string, family?: string): void;
  /** The answer to the next request only. */
  failNext(fault: OAuthFault): void;
  /** Seconds the issued access tokens live. */
  expiresIn: number;
  reuseDetection: boolean;
  revokedFamilies: Set<string>;
  close(): Promise<void>;
}

export async function startOAuthStandIn(): Promise<OAuthStandIn> {
  const tokens = new Map<string, { family: string; spent: boolean }>();
  const faults: OAuthFault[] = [];
  const requests: RefreshRequest[] = [];
  const revokedFamilies = new Set<string>();
  const answer = (response: ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body);
    response.writeHead(status, {
      "Content-Type": "application/json",
      "Content-Length": Buffer.byteLength(text),
    });
    response.end(text);
  };
  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown>;
    } catch {}
    requests.push({ body, at: Date.now() });
    if (request.method !== "POST" || request.url !== "/v1/oauth/token") return answer(response, 404, {});
    const fault = faults.shift();
    if (fault && "hangUp" in fault) return request.socket.destroy();
    if (fault && "delayMs" in fault) await new Promise((r) => setTimeout(r, fault.delayMs));
    if (fault && "status" in fault)
      return answer(response, fault.status, fault.body ?? { error: "server_error" });
    if (body.grant_type !== "refresh_token" || body.client_id !== "9d1c250a-e61b-44d9-88ed-5944d1962f5e") {
      return answer(response, 400, { error: "invalid_request" });
    }
    const entry = tokens.get(String(body.refresh_token));
    if (!entry || revokedFamilies.has(entry.family)) {
      return answer(response, 400, { error: "invalid_grant", error_description: "Invalid refresh token" });
    }
    if (entry.spent) {
      if (server.reuseDetection) revokedFamilies.add(entry.family);
      return answer(response, 400, {
        error: "invalid_grant",
        error_description: "Refresh token already used",
      });
    }
    entry.spent = true;
    const id = randomBytes(6).toString("hex");
    const refreshToken = `sk-ant-ort01-renewed-${id}`;
    tokens.set(refreshToken, { family: entry.family, spent: false });
    return answer(response, 200, {
      token_type: "Bearer",
      access_token: `sk-ant-oat01-renewed-${id}`,
      refresh_token: refreshToken,
      expires_in: server.expiresIn,
      scope: typeof body.scope === "string" ? body.scope : "user:inference",
    });
  };
  const http = createServer((request, response) => {
    handle(request, response).catch(() => response.destroy());
  });
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  const { port } = http.address() as AddressInfo;
  const server: OAuthStandIn = {
    url: `http://127.0.0.1:${port}/v1/oauth/token`,
    requests,
    issue(refreshToken, family = refreshToken) {
      tokens.set(refreshToken, { family, spent: false });
    },
    failNext(fault) {
      faults.push(fault);
    },
    expiresIn: 28_800,
    reuseDetection: false,
    revokedFamilies,
    close: () =>
      new Promise<void>((resolve) => {
        http.closeAllConnections();
        http.close(() => resolve());
      }),
  };
  return server;
}
