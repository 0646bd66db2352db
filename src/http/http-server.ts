/**
 * The process's HTTP server with its limits set on purpose (HTTP_*_TIMEOUT_MS): a client that
 * trickles its headers or its body holds a socket for seconds, not Node's default minutes.
 */
import http from 'node:http';
import type { HttpServerConfig } from '../config/config.ts';

/** How often Node looks for requests over their headers or request timeout. Node's default
 * (30 s) lets a 10 s limit run to 40 s; a pass over the open connections each second is cheap. */
const TIMEOUT_CHECK_INTERVAL_MS = 1000;

export function createHttpServer(limits: HttpServerConfig): http.Server {
  return http.createServer({
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionsCheckingInterval: Math.min(TIMEOUT_CHECK_INTERVAL_MS, limits.headersTimeoutMs),
  });
}
