// src/system/http1.ts against raw TCP servers that answer byte for byte what each case needs: every
// framing Vault or an API may use, and every way a peer can break one.
import { createServer, type Server, type Socket } from "node:net";
import t from "tap";
import { decodeChunked, exchange, type Http1Outcome, parseHead } from "../../src/system/http1.js";

interface RawServer {
  url: URL;
  /** Every request received, raw. */
  requests: string[];
  close(): Promise<void>;
}

/** A server that reads one request head (plus Content-Length body) and hands the socket to `answer`. */
async function rawServer(answer: (socket: Socket, request: string) => void): Promise<RawServer> {
  const requests: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => undefined);
    let buffer = "";
    socket.on("data", (chunk) => {
      buffer += chunk.toString("latin1");
      const end = buffer.indexOf("\r\n\r\n");
      if (end < 0) return;
      const length = Number(/content-length: (\d+)/i.exec(buffer.slice(0, end))?.[1] ?? 0);
      if (buffer.length < end + 4 + length) return;
      requests.push(buffer);
      buffer = "";
      answer(socket, requests.at(-1) as string);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: new URL(`http://127.0.0.1:${port}/v1/secret/data/x?version=2`),
    requests,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

async function ask(
  t: { teardown(fn: () => unknown): void },
  answer: (socket: Socket, request: string) => void,
  extra: Partial<Parameters<typeof exchange>[0]> = {},
): Promise<{ outcome: Http1Outcome; requests: string[] }> {
  const server = await rawServer(answer);
  t.teardown(() => server.close());
  const outcome = await exchange({
    url: server.url,
    method: "GET",
    headers: { "X-Vault-Token": "hvs.token" },
    timeoutMs: 2000,
    maxBodyBytes: 1024,
    ...extra,
  });
  return { outcome, requests: server.requests };
}

const body = (outcome: Http1Outcome) => (outcome.kind === "answer" ? outcome.body.toString() : outcome.kind);

t.test("sends one well-formed request: path, query, Host, Connection: close, Content-Length", async (t) => {
  const { outcome, requests } = await ask(t, (s) => s.end("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"), {
    method: "POST",
    body: Buffer.from('{"a":1}'),
    headers: { "X-Vault-Token": "hvs.t", host: "evil" },
  });
  t.equal(outcome.kind, "answer");
  const request = requests[0] ?? "";
  t.match(request, /^POST \/v1\/secret\/data\/x\?version=2 HTTP\/1\.1\r\n/);
  t.match(request, /\r\nHost: 127\.0\.0\.1:\d+\r\n/);
  t.notMatch(request, /evil/, "a caller's Host header is not sent");
  t.match(request, /\r\nConnection: close\r\n/);
  t.match(request, /\r\nContent-Length: 7\r\n/);
  t.match(request, /\r\n\r\n\{"a":1\}$/);
});

t.test(
  "framings: Content-Length, chunked (split anywhere), end of connection, 204, interim 100",
  async (t) => {
    const cases: [string, (s: Socket) => void, string][] = [
      [
        "content-length",
        (s) => s.end('HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{"data":{}}'),
        '{"data":{}}',
      ],
      [
        "chunked, with extension and trailer",
        (s) =>
          s.end(
            'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;x=y\r\n{"da\r\n7\r\nta":{}}\r\n0\r\nX-T: 1\r\n\r\n',
          ),
        '{"data":{}}',
      ],
      [
        "chunked, one byte per packet",
        (s) => {
          const bytes = Buffer.from(
            'HTTP/1.1 200 OK\r\ntransfer-encoding: Chunked\r\n\r\nb\r\n{"data":{}}\r\n0\r\n\r\n',
          );
          let i = 0;
          const next = () => {
            if (i >= bytes.length) return s.end();
            s.write(bytes.subarray(i, ++i));
            setImmediate(next);
          };
          next();
        },
        '{"data":{}}',
      ],
      ["end of connection", (s) => s.end("HTTP/1.0 200 OK\r\n\r\nuntil close"), "until close"],
      ["204 has no body", (s) => s.end("HTTP/1.1 204 No Content\r\n\r\n"), ""],
      [
        "interim 100 Continue first",
        (s) => s.end("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
        "ok",
      ],
    ];
    for (const [name, answer, expected] of cases) {
      const { outcome } = await ask(t, answer);
      t.equal(body(outcome), expected, name);
    }
    const { outcome } = await ask(t, (s) =>
      s.end(
        'HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{"errors":[]}',
      ),
    );
    t.equal(outcome.kind === "answer" && outcome.status, 404, "the status comes through");
    t.equal(outcome.kind === "answer" && outcome.headers.get("content-type"), "application/json");
  },
);

t.test("a connection that ends early is a cut answer, never a short body", async (t) => {
  const cases: [string, (s: Socket) => void, number][] = [
    ["before any byte", (s) => s.destroy(), 0],
    ["inside the head", (s) => s.end("HTTP/1.1 200 OK\r\nContent-Le"), 0],
    [
      "half the Content-Length body",
      (s) => s.end('HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n{"data":'),
      200,
    ],
    [
      "before the last chunk",
      (s) => s.end("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n"),
      200,
    ],
    [
      "reset mid-body",
      (s) => {
        s.write('HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n{"data":');
        setTimeout(() => s.resetAndDestroy(), 20);
      },
      200,
    ],
  ];
  for (const [name, answer, status] of cases) {
    const { outcome } = await ask(t, answer);
    if (status === 0 && name === "before any byte") {
      t.ok(outcome.kind === "cut" || outcome.kind === "error", `${name}: ${outcome.kind}`);
      continue;
    }
    t.same(outcome, { kind: "cut", status }, name);
  }
});

t.test("what is not HTTP, or breaks its framing, is refused at the edge", async (t) => {
  const cases: [string, string, Http1Outcome["kind"]][] = [
    ["not HTTP", "SSH-2.0-OpenSSH_9.2\r\n\r\n", "malformed"],
    ["HTTP/2 preface", "HTTP/2 200\r\n\r\n", "malformed"],
    ["bad Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 1e3\r\n\r\n", "malformed"],
    ["bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "malformed"],
    [
      "chunk without CRLF",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}XX0\r\n\r\n",
      "malformed",
    ],
    ["unknown coding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "malformed"],
    ["header without colon", "HTTP/1.1 200 OK\r\nbroken\r\n\r\n", "malformed"],
    ["body over the limit", "HTTP/1.1 200 OK\r\nContent-Length: 4096\r\n\r\n", "too-large"],
    ["chunks over the limit", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfff\r\n", "too-large"],
  ];
  for (const [name, text, kind] of cases) {
    const { outcome } = await ask(t, (s) => s.end(text));
    t.equal(outcome.kind, kind, name);
  }
  const { outcome } = await ask(t, (s) => s.end(`HTTP/1.1 200 OK\r\nX: ${"a".repeat(40 * 1024)}`));
  t.equal(outcome.kind, "malformed", "a head over 32 KiB");
});

t.test("a silent peer is bounded by the timeout; a refused port is an error with its code", async (t) => {
  const started = Date.now();
  const { outcome } = await ask(t, () => undefined, { timeoutMs: 200 });
  t.same(outcome, { kind: "timeout", sent: true }, "the request had gone out");
  t.ok(Date.now() - started < 1500, "returned near the timeout");
  const server = await rawServer(() => undefined);
  const url = server.url;
  await server.close();
  const refused = await exchange({ url, method: "GET", headers: {}, timeoutMs: 2000, maxBodyBytes: 10 });
  t.match(refused, { kind: "error", code: "ECONNREFUSED", sent: false });
});

t.test("a header that could split the request is never sent", async (t) => {
  const server = await rawServer((s) => s.end("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
  t.teardown(() => server.close());
  for (const value of ["a\r\nX-Injected: 1", "a\nb", "a\0", "tökén"]) {
    t.throws(
      () =>
        exchange({
          url: server.url,
          method: "GET",
          headers: { "X-Vault-Token": value },
          timeoutMs: 500,
          maxBodyBytes: 10,
        }),
      TypeError,
      JSON.stringify(value),
    );
  }
  t.throws(() =>
    exchange({
      url: new URL("ftp://127.0.0.1/"),
      method: "GET",
      headers: {},
      timeoutMs: 500,
      maxBodyBytes: 10,
    }),
  );
  t.equal(server.requests.length, 0, "nothing reached the server");
});

t.test("parsers on their own", async (t) => {
  t.equal(parseHead(Buffer.from("HTTP/1.1 200 OK\r\n")), undefined, "incomplete head");
  t.match(parseHead(Buffer.from("HTTP/1.1 200 OK\r\nA: 1\r\na: 2\r\n\r\n")), { status: 200 });
  const joined = parseHead(Buffer.from("HTTP/1.1 200 OK\r\nA: 1\r\na: 2\r\n\r\n"));
  t.equal(joined && "headers" in joined && joined.headers.get("a"), "1, 2", "repeated headers are joined");
  t.equal(decodeChunked(Buffer.from("2\r\n{}\r\n"), 10), undefined, "no last chunk yet");
  t.same(decodeChunked(Buffer.from("2\r\n{}\r\n0\r\n\r\n"), 10), [Buffer.from("{}")]);
});
