/**
 * One HTTP request with node:http/https, nothing else. Host names under `.localhost` do not
 * resolve in Node, so they connect to 127.0.0.1 while the URL's host still goes out as the Host
 * header (and as the TLS server name), which is what the server routes on.
 */
import http from 'node:http';
import https from 'node:https';
import net, { type LookupFunction } from 'node:net';
import { CliError } from './errors.ts';

export interface HttpRequest {
  readonly method: string;
  readonly url: string;
  readonly headers?: Record<string, string>;
  readonly body?: string;
  /** give up after this long without an answer */
  readonly timeoutMs?: number;
}

export interface HttpResponse {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

export type HttpClient = (request: HttpRequest) => Promise<HttpResponse>;

export function isLoopbackName(hostname: string): boolean {
  const name = hostname.toLowerCase().replace(/\.$/, '');
  return name === 'localhost' || name.endsWith('.localhost');
}

const loopbackLookup: LookupFunction = (_hostname, options, callback) => {
  if (options.all)
    (callback as unknown as (e: null, a: { address: string; family: number }[]) => void)(null, [{ address: '127.0.0.1', family: 4 }]);
  else callback(null, '127.0.0.1', 4);
};

export class NetworkError extends CliError {
  override name = 'NetworkError';
  readonly code: string | undefined;
  constructor(message: string, code: string | undefined, details: readonly string[] = []) {
    super(message, details);
    this.code = code;
  }
}

export function describeNetworkError(url: URL, error: NodeJS.ErrnoException): NetworkError {
  const origin = url.origin;
  switch (error.code) {
    case 'ECONNREFUSED':
      return new NetworkError(
        `the server is not reachable at ${origin} (connection refused). Is it running? Start it with 'npm start'.`,
        error.code,
      );
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new NetworkError(`cannot resolve ${url.hostname}: check --admin-url/--token-url or the credentials file.`, error.code);
    case 'ETIMEDOUT':
      return new NetworkError(`no answer from ${origin} in time.`, error.code);
    case 'ECONNRESET':
      return new NetworkError(`the connection to ${origin} was reset before an answer came.`, error.code);
    default:
      return new NetworkError(`request to ${origin} failed: ${error.message}`, error.code);
  }
}

export const nodeHttpClient: HttpClient = (request) =>
  new Promise((resolve, reject) => {
    let url: URL;
    try {
      url = new URL(request.url);
    } catch {
      reject(new CliError(`not a valid URL: ${request.url}`));
      return;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      reject(new CliError(`unsupported URL scheme in ${request.url} (expected http: or https:)`));
      return;
    }
    const transport = url.protocol === 'https:' ? https : http;
    const headers: Record<string, string> = { ...request.headers };
    if (request.body !== undefined) headers['content-length'] = String(Buffer.byteLength(request.body));
    const req = transport.request(
      url,
      {
        method: request.method,
        headers,
        agent: false,
        ...(isLoopbackName(url.hostname) ? { lookup: loopbackLookup } : {}),
        // TLS names the URL's host even when a caller sends another Host header (Node would take that one)
        ...(url.protocol === 'https:' && !url.hostname.startsWith('[') && !net.isIP(url.hostname) ? { servername: url.hostname } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', (error: NodeJS.ErrnoException) => reject(describeNetworkError(url, error)));
      },
    );
    if (request.timeoutMs) {
      req.setTimeout(request.timeoutMs, () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
    }
    req.on('error', (error: NodeJS.ErrnoException) => reject(describeNetworkError(url, error)));
    req.end(request.body);
  });
