/**
 * One request at a time to 127.0.0.1 with an explicit Host header (`*.localhost` does not resolve
 * here): for setup (tokens, JWKS) and for single-request latency (token-cold).
 */
import http from 'node:http';

export interface LoopbackRequest {
  readonly port: number;
  readonly host: string;
  readonly method?: string;
  readonly path: string;
  readonly headers?: Record<string, string>;
  readonly body?: string;
}

export interface LoopbackResponse {
  readonly status: number;
  readonly body: string;
  /** from writing the request to the last byte of the response */
  readonly ms: number;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

export function loopbackRequest(request: LoopbackRequest): Promise<LoopbackResponse> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = http.request(
      {
        host: '127.0.0.1',
        port: request.port,
        method: request.method ?? 'GET',
        path: request.path,
        headers: { ...request.headers, host: request.host },
        agent,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), ms: performance.now() - started }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(request.body);
  });
}

export function basicAuthorization(clientId: string, clientSecret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')}`;
}

export const TOKEN_CONTENT_TYPE = 'application/x-www-form-urlencoded';

export function tokenRequestBody(scope: string): string {
  return new URLSearchParams({ grant_type: 'client_credentials', scope }).toString();
}

/** A client_credentials token, or an error naming the status and body. */
export async function fetchToken(port: number, host: string, path: string, clientId: string, clientSecret: string, scope: string) {
  const response = await loopbackRequest({
    port,
    host,
    method: 'POST',
    path,
    headers: { authorization: basicAuthorization(clientId, clientSecret), 'content-type': TOKEN_CONTENT_TYPE },
    body: tokenRequestBody(scope),
  });
  if (response.status !== 200) throw new Error(`token request to ${host}${path} failed: ${response.status} ${response.body}`);
  return (JSON.parse(response.body) as { access_token: string }).access_token;
}
