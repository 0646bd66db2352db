/**
 * A webhook receiver on loopback: records every request and answers what the test tells it to
 * (a status, optional headers, optionally after a delay).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedWebhook {
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body: string;
  /** the sender's port: one per connection */
  readonly remotePort: number;
}

export interface Reply {
  readonly status: number;
  readonly headers?: Record<string, string>;
  readonly body?: string;
  readonly delayMs?: number;
}

export interface WebhookReceiver {
  readonly url: string;
  readonly port: number;
  readonly received: ReceivedWebhook[];
  /** how to answer the next requests (default 204) */
  reply: (request: ReceivedWebhook) => Reply;
  /** the most requests per path being answered at one time */
  readonly maxInFlight: Map<string, number>;
  close(): Promise<void>;
}

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const received: ReceivedWebhook[] = [];
  const receiver = {
    received,
    reply: (() => ({ status: 204 })) as (request: ReceivedWebhook) => Reply,
    maxInFlight: new Map<string, number>(),
  };
  const inFlight = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const request: ReceivedWebhook = {
        path: req.url ?? '/',
        headers: Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : (v ?? '')])),
        body: Buffer.concat(chunks).toString('utf8'),
        remotePort: req.socket.remotePort ?? 0,
      };
      received.push(request);
      const answer = receiver.reply(request);
      inFlight.set(request.path, (inFlight.get(request.path) ?? 0) + 1);
      receiver.maxInFlight.set(request.path, Math.max(receiver.maxInFlight.get(request.path) ?? 0, inFlight.get(request.path) ?? 0));
      const send = () => {
        inFlight.set(request.path, (inFlight.get(request.path) ?? 1) - 1);
        res.writeHead(answer.status, answer.headers ?? {});
        res.end(answer.body);
      };
      if (answer.delayMs) setTimeout(send, answer.delayMs);
      else send();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(receiver, {
    port,
    url: `http://127.0.0.1:${port}/hooks`,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  });
}
