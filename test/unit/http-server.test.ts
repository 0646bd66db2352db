/**
 * The HTTP server's limits: configured from HTTP_*_TIMEOUT_MS with deliberate defaults, and
 * enforced by Node on a real socket (short limits here, so the test takes about a second).
 */
import type http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/config.ts';
import { createHttpServer } from '../../src/http/http-server.ts';

describe('HTTP server limits', () => {
  let server: http.Server | undefined;
  afterEach(async () => {
    const closing = server;
    server = undefined;
    if (!closing) return;
    closing.closeAllConnections();
    await new Promise((resolve) => closing.close(resolve));
  });

  it('default to 10 s for headers, 30 s for a request and 65 s for an idle connection', () => {
    expect(loadConfig({}).http).toEqual({ headersTimeoutMs: 10_000, requestTimeoutMs: 30_000, keepAliveTimeoutMs: 65_000 });
    expect(() => loadConfig({ HTTP_HEADERS_TIMEOUT_MS: '40000' })).toThrow(
      new ConfigError('HTTP_REQUEST_TIMEOUT_MS', 'must be at least HTTP_HEADERS_TIMEOUT_MS (40000), got 30000'),
    );
  });

  /** Opens a connection, writes `data`, and resolves with what came back and when the server closed. */
  async function silentAfter(port: number, data: string): Promise<{ response: string; closedAfterMs: number }> {
    const socket = net.connect(port, '127.0.0.1');
    const started = performance.now();
    let response = '';
    socket.on('data', (chunk: Buffer) => (response += chunk.toString('latin1')));
    socket.write(data);
    await new Promise((resolve) => socket.once('close', resolve));
    return { response, closedAfterMs: performance.now() - started };
  }

  it('answer 408 and close when headers or a body trickle in past their limit, and close an idle connection', async () => {
    server = createHttpServer({ headersTimeoutMs: 300, requestTimeoutMs: 600, keepAliveTimeoutMs: 400 });
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
      req.resume();
      req.on('end', () => res.end('ok'));
    });
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;

    const headers = await silentAfter(port, 'GET / HTTP/1.1\r\nHost: a\r\n');
    expect(headers.response).toMatch(/^HTTP\/1\.1 408 /);
    expect(headers.closedAfterMs).toBeGreaterThanOrEqual(290);
    expect(headers.closedAfterMs).toBeLessThan(2_000);

    const body = await silentAfter(port, 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nx');
    expect(body.response).toMatch(/^HTTP\/1\.1 408 /);
    expect(body.closedAfterMs).toBeGreaterThanOrEqual(590);
    expect(body.closedAfterMs).toBeLessThan(2_500);

    const idle = await silentAfter(port, 'GET / HTTP/1.1\r\nHost: a\r\n\r\n');
    expect(idle.response).toMatch(/^HTTP\/1\.1 200 [^]*Connection: keep-alive\r\n/);
    expect(idle.closedAfterMs).toBeGreaterThanOrEqual(390);
    expect(idle.closedAfterMs).toBeLessThan(2_000);
  });
});
