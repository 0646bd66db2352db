/**
 * The admin API's OpenAPI 3.1 document: its paths generated from the route declarations (the same
 * schemas the routes validate with), around them what no route says: the security schemes (the
 * platform issuer's client_credentials flow for platform:admin; a tenant's own client with
 * tenant:admin, from the tenant's token endpoint), the problem responses every operation may
 * answer, and the schemas of the path parameters.
 */
import type { JsonSchema } from '../catalog/collections.ts';
import { DPOP_SECURITY_SCHEME } from '../http/dpop-proof.ts';
import { openApiPaths, problemResponse, type RouteResponse, type RouteSpec } from '../http/route-spec.ts';
import { ADMIN_SCHEMAS } from './admin-schemas.ts';

export const ref = (name: keyof typeof ADMIN_SCHEMAS): JsonSchema => ({ $ref: `#/components/schemas/${name}` });
/** `{ data, next }`: a page of the named schema */
export const list = (name: keyof typeof ADMIN_SCHEMAS): JsonSchema => ({
  type: 'object',
  properties: { data: { type: 'array', items: ref(name) }, next: { type: ['string', 'null'], description: 'URL of the next page' } },
  required: ['data', 'next'],
});
export const CONFLICT = problemResponse('conflicts with the current state (taken slug, not deleted, too early to purge, …)');

const COMMON_RESPONSES: Record<number, RouteResponse> = {
  400: problemResponse('malformed request or query'),
  401: problemResponse('missing, invalid or expired access token'),
  403: problemResponse('the token lacks the scope, or the tenant admin is suspended'),
  404: problemResponse('no such tenant or client in this environment (or not yours)'),
  422: problemResponse('the body breaks the schema or a rule; `errors` has one JSON pointer per member'),
};

const PATH_PARAMETERS: Record<string, JsonSchema> = {
  slug: { type: 'string' },
  clientId: { type: 'string' },
  id: { type: 'string', format: 'uuid' },
  deliveryId: { type: 'string', format: 'uuid' },
};

export interface AdminDocumentInput {
  readonly adminBase: string;
  readonly platformTokenUrl: string;
  readonly tenantTokenUrlTemplate: string;
}

/** The paths are built once, from the routes; the rest per environment (its URLs). */
export function createAdminOpenApiDocument(routes: readonly RouteSpec<never>[]) {
  const paths = openApiPaths(routes, { pathParameters: PATH_PARAMETERS, components: ADMIN_SCHEMAS, commonResponses: COMMON_RESPONSES });
  return (input: AdminDocumentInput) => ({
    openapi: '3.1.0',
    info: {
      title: 'tenant-connect admin API',
      version: '1.0.0',
      description:
        'Operate the platform: tenants, their integration clients and signing keys, and the audit log. ' +
        `Get a token from ${input.platformTokenUrl} (client_credentials, scope platform:admin). A tenant's own client with ` +
        `the scope tenant:admin (token from ${input.tenantTokenUrlTemplate}) may manage that tenant's clients.`,
    },
    servers: [{ url: input.adminBase }],
    components: {
      securitySchemes: {
        platformAdmin: {
          type: 'oauth2',
          flows: { clientCredentials: { tokenUrl: input.platformTokenUrl, scopes: { 'platform:admin': 'everything on this API' } } },
        },
        // OpenAPI has no templated token URL; the tenant's own endpoint is named in words
        tenantAdmin: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description: `a token of the tenant's own client with the scope tenant:admin, from ${input.tenantTokenUrlTemplate}; only that tenant's clients`,
        },
        dpop: DPOP_SECURITY_SCHEME,
      },
      schemas: {
        Problem: {
          type: 'object',
          properties: { type: { type: 'string' }, title: { type: 'string' }, status: { type: 'integer' }, detail: { type: 'string' } },
          required: ['type', 'title', 'status', 'detail'],
        },
        ...ADMIN_SCHEMAS,
      },
    },
    paths,
  });
}
