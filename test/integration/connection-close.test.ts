/**
 * A body the server refuses without reading it ends the connection (RFC 9112 §9.6): the response
 * says `Connection: close` and the server closes the socket after it. Sent on a raw keep-alive
 * socket (node:net), so nothing between the test and the server reuses or closes connections.
 * A small refused body that arrived whole keeps the connection usable.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDatabaseKinds } from '../helpers/databases.ts';
import { accessToken, startTestServer, type TestServer } from '../helpers/server.ts';

const API = 'acme.connect-sandbox.localhost';
const AUTH = 'authentication.connect-sandbox.localhost';
const TOKEN = '/tenants/acme/connect/token';

interface Exchange {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
  /** the server ended the connection (FIN) within the wait */
  readonly closedByServer: boolean;
}

/** Writes `head` and `body` as they are, then reads one response and waits up to 5 s for the
 * server to end the connection. The socket stays open from our side throughout. */
async function exchange(port: number, head: string, body: Buffer | string = ''): Promise<Exchange & { socket: net.Socket }> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {}); // a reset after the response is read shows up as !closedByServer or below
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  // one write: a body sent whole arrives with its head (one TCP segment on loopback for small ones)
  socket.write(Buffer.concat([Buffer.from(head, 'latin1'), Buffer.from(body)]));
  return readResponse(socket);
}

async function readResponse(socket: net.Socket): Promise<Exchange & { socket: net.Socket }> {
  let received = Buffer.alloc(0);
  const parsed = () => {
    const end = received.indexOf('\r\n\r\n');
    if (end < 0) return undefined;
    const [statusLine = '', ...lines] = received.subarray(0, end).toString('latin1').split('\r\n');
    const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
    const length = Number(headers['content-length'] ?? 0);
    if (received.length < end + 4 + length) return undefined;
    return { status: Number(statusLine.split(' ')[1]), headers, body: received.subarray(end + 4, end + 4 + length).toString('utf8') };
  };
  return new Promise((resolve, reject) => {
    let response: ReturnType<typeof parsed>;
    const timer = setTimeout(() => {
      socket.removeAllListeners('data');
      if (response) resolve({ ...response, closedByServer: false, socket });
      else reject(new Error(`no complete response within 5 s: ${received.toString('latin1').slice(0, 300)}`));
    }, 5_000);
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      response ??= parsed();
      // a kept-alive connection is not ended: stop waiting once the response is whole
      if (response && response.headers.connection !== 'close') {
        clearTimeout(timer);
        socket.removeAllListeners('data');
        resolve({ ...response, closedByServer: false, socket });
      }
    });
    socket.once('end', () => {
      clearTimeout(timer);
      response ??= parsed();
      if (response) resolve({ ...response, closedByServer: true, socket });
      else reject(new Error(`connection ended without a complete response: ${received.toString('latin1').slice(0, 300)}`));
    });
  });
}

const requestHead = (method: string, host: string, path: string, headers: Record<string, string | number>) =>
  `${method} ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: keep-alive\r\n${Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('')}\r\n`;

describe.each(testDatabaseKinds())('connections after a refused body on %s', (kind) => {
  let server: TestServer;
  let token: string;
  const sockets: net.Socket[] = [];
  beforeAll(async () => {
    server = await startTestServer(kind);
    token = await accessToken(server, server.credential('sandbox', 'acme'));
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await server?.close();
  });

  async function send(head: string, body?: Buffer | string) {
    const result = await exchange(server.port, head, body);
    sockets.push(result.socket);
    return result;
  }

  it('413 for a declared length over 1 MiB, before reading: Connection: close, and the server closes', async () => {
    const head = requestHead('POST', API, '/api/v1/employees', {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      'content-length': 2_000_000,
    });
    const result = await send(head, Buffer.alloc(64 * 1024, 0x20));
    expect(result.status).toBe(413);
    expect(JSON.parse(result.body)).toMatchObject({ status: 413, type: 'https://tenant-connect.dev/problems/payload-too-large' });
    expect(result.headers.connection).toBe('close');
    expect(result.closedByServer).toBe(true);
  });

  it('413 for a chunked body that grows past 1 MiB while read: Connection: close, and the server closes', async () => {
    const head = requestHead('POST', API, '/api/v1/employees', {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      'transfer-encoding': 'chunked',
    });
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    const chunks = Array.from({ length: 17 }, () =>
      Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]),
    );
    const result = await send(head, Buffer.concat(chunks)); // 1.06 MiB and no last chunk: the body never ends
    expect(result.status).toBe(413);
    expect(result.headers.connection).toBe('close');
    expect(result.closedByServer).toBe(true);
  });

  it('415 and 401 refused before the body is read: Connection: close while the body is still arriving', async () => {
    const unsupported = await send(
      requestHead('POST', API, '/api/v1/employees', {
        authorization: `Bearer ${token}`,
        'content-type': 'text/plain',
        'content-length': 500_000,
      }),
      'x'.repeat(1000),
    );
    expect(unsupported.status).toBe(415);
    expect(unsupported.headers.connection).toBe('close');
    expect(unsupported.closedByServer).toBe(true);

    const unauthenticated = await send(
      requestHead('POST', API, '/api/v1/employees', { 'content-type': 'application/json', 'content-length': 500_000 }),
      '{"a":',
    );
    expect(unauthenticated.status).toBe(401);
    expect(unauthenticated.headers.connection).toBe('close');
    expect(unauthenticated.closedByServer).toBe(true);
  });

  it('an oversized token request (oidc-provider reads at most 56 KiB): 400 with Connection: close', async () => {
    const result = await send(
      requestHead('POST', AUTH, TOKEN, { 'content-type': 'application/x-www-form-urlencoded', 'content-length': 200_000 }),
      'grant_type=client_credentials&x=',
    );
    expect(result.status).toBe(400);
    expect(JSON.parse(result.body)).toMatchObject({ error: 'invalid_request' });
    expect(result.headers.connection).toBe('close');
    expect(result.closedByServer).toBe(true);
  });

  it('keeps the connection when a small refused body arrived whole, and serves the next request on it', async () => {
    const first = await send(
      requestHead('POST', API, '/api/v1/employees', {
        authorization: `Bearer ${token}`,
        'content-type': 'text/plain',
        'content-length': 5,
      }),
      'hello',
    );
    expect(first.status).toBe(415);
    expect(first.headers.connection).toBe('keep-alive');
    first.socket.write(requestHead('GET', API, '/api/v1/employees?limit=1', { authorization: `Bearer ${token}` }));
    const second = await readResponse(first.socket);
    expect(second.status).toBe(200);
    expect(JSON.parse(second.body)).toMatchObject({ data: [expect.any(Object)] });
  });
});
