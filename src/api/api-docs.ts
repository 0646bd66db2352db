/**
 * /api/v1/docs: a human-readable reference rendered by Swagger UI from /api/v1/openapi.json. The
 * viewer's files are served from the swagger-ui-dist package, locally, never from a CDN.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import type { Context } from 'koa';
import { ApiError } from '../http/problem.ts';

const ASSETS: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'application/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
};

const PAGE = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>API reference</title>
  <link rel="stylesheet" href="/api/v1/docs/swagger-ui.css">
  <link rel="icon" href="/api/v1/docs/favicon-32x32.png">
</head>
<body>
  <div id="reference"></div>
  <script src="/api/v1/docs/swagger-ui-bundle.js"></script>
  <script src="/api/v1/docs/init.js"></script>
</body>
</html>
`;

const INIT = `window.ui = SwaggerUIBundle({ url: '/api/v1/openapi.json', dom_id: '#reference', deepLinking: true });\n`;

export function createApiDocs() {
  const directory = path.dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
  const cache = new Map<string, Buffer>();
  return function serveApiDocs(ctx: Context): boolean {
    if (ctx.path !== '/api/v1/docs' && !ctx.path.startsWith('/api/v1/docs/')) return false;
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') throw new ApiError('method-not-allowed', 'The reference is read-only.');
    const name = ctx.path.slice('/api/v1/docs/'.length);
    ctx.set('Cache-Control', 'public, max-age=3600');
    if (ctx.path === '/api/v1/docs' || name === '') {
      ctx.type = 'text/html; charset=utf-8';
      ctx.body = PAGE;
    } else if (name === 'init.js') {
      ctx.type = 'application/javascript; charset=utf-8';
      ctx.body = INIT;
    } else {
      const type = ASSETS[name];
      if (!type) throw new ApiError('not-found', 'Nothing is served at this address.');
      let file = cache.get(name);
      if (!file) {
        file = fs.readFileSync(path.join(directory, name));
        cache.set(name, file);
      }
      ctx.type = type;
      ctx.body = file;
    }
    return true;
  };
}
