/**
 * A loopback TCP proxy to put between the server under test and Postgres, for fault tests. It
 * forwards; or resets every connection, open or new (the peer sees ECONNRESET); or blackholes:
 * nothing passes either way and nothing is closed, like a network that drops packets, until it
 * forwards again and what was held flows on (as TCP would retransmit it).
 */
import net from 'node:net';

export type ProxyMode = 'forward' | 'reset' | 'blackhole';

export interface TcpProxy {
  readonly port: number;
  /** postgres://… of `databaseUrl` with its host and port replaced by the proxy's */
  urlFor(databaseUrl: string): string;
  mode(): ProxyMode;
  setMode(mode: ProxyMode): void;
  close(): Promise<void>;
}

interface Pair {
  readonly client: net.Socket;
  readonly upstream: net.Socket;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  if (!LOOPBACK.has(target.host)) throw new TypeError(`the fault proxy only forwards to loopback, not ${target.host}`);
  let current: ProxyMode = 'forward';
  const pairs = new Set<Pair>();

  const flow = (pair: Pair) => {
    pair.client.pipe(pair.upstream);
    pair.upstream.pipe(pair.client);
  };
  const hold = (pair: Pair) => {
    pair.client.unpipe(pair.upstream);
    pair.upstream.unpipe(pair.client);
    pair.client.pause();
    pair.upstream.pause();
  };
  const reset = (pair: Pair) => {
    pairs.delete(pair);
    pair.client.resetAndDestroy();
    pair.upstream.destroy();
  };

  const server = net.createServer((client) => {
    if (current === 'reset') {
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect(target.port, target.host);
    const pair = { client, upstream };
    pairs.add(pair);
    const drop = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    for (const socket of [client, upstream]) {
      socket.on('error', drop);
      socket.on('close', drop);
    }
    if (current === 'blackhole') hold(pair);
    else flow(pair);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;

  return {
    port,
    urlFor(databaseUrl) {
      const url = new URL(databaseUrl);
      url.hostname = '127.0.0.1';
      url.port = String(port);
      return url.toString();
    },
    mode: () => current,
    setMode(mode) {
      const previous = current;
      current = mode;
      if (mode === 'reset') for (const pair of [...pairs]) reset(pair);
      else if (mode === 'blackhole') for (const pair of pairs) hold(pair);
      else if (previous === 'blackhole') for (const pair of pairs) flow(pair);
    },
    async close() {
      for (const pair of [...pairs]) reset(pair);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
