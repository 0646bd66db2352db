/**
 * `<base>/docs`: a human-readable reference rendered by Swagger UI from `<base>/openapi.json`; the
 * resource API's at /api/v1/docs, the admin API's at /v1/docs. The viewer's files are served from
 * the swagger-ui-dist package, locally, never from a CDN.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import type { Context } from 'koa';
import { ApiError } from './problem.ts';

const ASSETS: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'application/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
};

const page = (docs: string, title: string) => `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>${title}</title>
  <link rel="stylesheet" href="${docs}/swagger-ui.css">
  <link rel="icon" href="${docs}/favicon-32x32.png">
</head>
<body>
  <div id="reference"></div>
  <script src="${docs}/swagger-ui-bundle.js"></script>
  <script src="${docs}/init.js"></script>
</body>
</html>
`;

const init = (document: string) => `window.ui = SwaggerUIBundle({ url: '${document}', dom_id: '#reference', deepLinking: true });\n`;

/** base: the API's path prefix (/api/v1, /v1); title: the page's title. Both are ours, never the request's. */
export function createApiDocs(options: { base: string; title: string }) {
  const directory = path.dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
  const docs = `${options.base}/docs`;
  const html = page(docs, options.title);
  const script = init(`${options.base}/openapi.json`);
  const cache = new Map<string, Buffer>();
  return function serveApiDocs(ctx: Context): boolean {
    if (ctx.path !== docs && !ctx.path.startsWith(`${docs}/`)) return false;
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') throw new ApiError('method-not-allowed', 'The reference is read-only.');
    const name = ctx.path.slice(docs.length + 1);
    ctx.set('Cache-Control', 'public, max-age=3600');
    if (ctx.path === docs || name === '') {
      ctx.type = 'text/html; charset=utf-8';
      ctx.body = html;
    } else if (name === 'init.js') {
      ctx.type = 'application/javascript; charset=utf-8';
      ctx.body = script;
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
