/**
 * A response sent while the request's body is still arriving ends the connection (RFC 9112 §9.6).
 * The server will not read the rest of that body (413, a 415 or 400 before reading, a 401 before
 * the body is needed, an oversized token request), so on a kept-alive connection the peer's
 * remaining bytes would be taken for the next request, or the peer would wait on a socket nobody
 * reads. With `Connection: close` on the response, Node ends the socket once it is written.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

function announcesBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/** The last byte of the body has not arrived. `complete` alone is not enough: it flips a little
 * after the body's bytes are buffered, and a fast refusal can come in between. A body that arrived
 * whole but was not read does not count: Node discards it, and the connection stays usable. */
function bodyStillArriving(req: IncomingMessage): boolean {
  if (req.complete) return false;
  const length = Number(req.headers['content-length']);
  return !(req.headers['transfer-encoding'] === undefined && req.readableLength >= length);
}

/**
 * Decides when the head is written, not before: the Provider writes its own responses, and a
 * handler may read the body after all. Every head passes through writeHead (an implicit head too).
 */
export function closeConnectionIfBodyUnread(req: IncomingMessage, res: ServerResponse): void {
  if (!announcesBody(req)) return; // the hot path (GET, HEAD) wraps nothing
  const writeHead = res.writeHead;
  res.writeHead = function writeHeadClosingEarly(this: ServerResponse, ...args: Parameters<typeof writeHead>) {
    if (bodyStillArriving(req)) this.setHeader('Connection', 'close');
    return writeHead.apply(this, args);
  } as typeof writeHead;
}
