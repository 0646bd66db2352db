/**
 * What the resource API and the admin API share about running a @koa/router router: answering a
 * path that exists under another method with 405 (and Allow), anything unmatched with 404, both
 * as problem+json; and listing the routes for the OpenAPI completeness tests.
 */
import type Router from '@koa/router';
import type { Context } from 'koa';
import { ApiError } from './problem.ts';

export const NOT_FOUND_DETAIL = 'Nothing is served at this address.';

export function createRouteDispatcher<State>(router: Router<State>, prefix: string) {
  const routes = router.routes();
  // without throw, the router sets 405/501 and the Allow header; they become problem+json here
  const allowedMethods = router.allowedMethods();

  /** Every (method, path) the router answers, paths as OpenAPI writes them. */
  const routeTable = router.stack.flatMap((layer) =>
    layer.methods
      .filter((m) => m !== 'HEAD')
      .map((method) => ({
        method,
        path: String(layer.path)
          .slice(prefix.length)
          .replace(/:(\w+)/g, '{$1}'),
      })),
  );

  async function dispatch(ctx: Context): Promise<void> {
    await allowedMethods(ctx as never, () => routes(ctx as never, async () => {}));
    if (ctx.status === 405 || ctx.status === 501) {
      throw new ApiError('method-not-allowed', `${ctx.method} is not allowed here.`, { headers: { Allow: ctx.response.get('Allow') } });
    }
    if (ctx.body === undefined && ctx.status !== 204) throw new ApiError('not-found', NOT_FOUND_DETAIL);
  }

  return { dispatch, routeTable };
}
