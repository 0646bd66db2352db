/**
 * The OpenAPI 3.1 document of a tenant's API: its paths generated from the route declarations (the
 * very schemas the routes validate with), around them what no route says: the security schemes
 * (the tenant's own token endpoint, client_credentials; every operation names its scope), the
 * problem responses every operation may answer, and the schema of the path's id.
 */
import type { JsonSchema } from '../catalog/collections.ts';
import { openApiPaths, problemResponse, type RouteResponse, type RouteSpec } from '../http/route-spec.ts';
import { DPOP_SECURITY_SCHEME } from '../http/dpop-proof.ts';

const problemSchema: JsonSchema = {
  type: 'object',
  description: 'RFC 9457 problem details',
  properties: {
    type: { type: 'string', format: 'uri' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    errors: {
      type: 'array',
      items: {
        type: 'object',
        properties: { pointer: { type: 'string', description: 'JSON pointer of the failing member' }, detail: { type: 'string' } },
        required: ['pointer', 'detail'],
      },
    },
  },
  required: ['type', 'title', 'status', 'detail'],
};

const COMMON_RESPONSES: Record<number, RouteResponse> = {
  400: problemResponse('malformed request, unknown query parameter, or a tenant named in the request'),
  401: problemResponse('missing, invalid or expired access token (see WWW-Authenticate)'),
  403: problemResponse('the token lacks the scope, or the tenant is suspended'),
};

const PATH_PARAMETERS: Record<string, JsonSchema> = { id: { type: 'string', format: 'uuid' } };

export interface OpenApiInput {
  readonly apiBase: string;
  readonly tokenUrl: string;
  readonly scopes: readonly string[];
  readonly tenantName: string;
}

/** The paths and schemas are built once, from the routes; the rest per tenant (its name, its URLs). */
export function createOpenApiDocument(routes: readonly RouteSpec<never>[], components: Readonly<Record<string, JsonSchema>>) {
  const paths = openApiPaths(routes, { pathParameters: PATH_PARAMETERS, components, commonResponses: COMMON_RESPONSES });
  const schemas = { Problem: problemSchema, ...components };
  return (input: OpenApiInput): Record<string, unknown> => ({
    openapi: '3.1.0',
    info: {
      title: `${input.tenantName} — tenant-connect resource API`,
      version: '1.0.0',
      description:
        'Tenant-scoped resource API. The tenant comes from the host name and the access token: never send it in a query or body. Errors are RFC 9457 problem+json.',
    },
    servers: [{ url: input.apiBase }],
    security: [{ oauth2: [] }, { bearer: [] }],
    paths,
    components: {
      schemas,
      securitySchemes: {
        oauth2: {
          type: 'oauth2',
          description: 'client_credentials at the tenant’s token endpoint; access tokens are RFC 9068 JWTs for this API',
          flows: {
            clientCredentials: {
              tokenUrl: input.tokenUrl,
              scopes: Object.fromEntries(
                input.scopes.map((s) => [s, `${s.endsWith(':read') ? 'read' : 'create, change and delete'} ${s.split(':')[0]}`]),
              ),
            },
          },
        },
        bearer: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description: 'an access token from the tenant’s token endpoint, pasted as is (the same token the oauth2 flow gets)',
        },
        dpop: DPOP_SECURITY_SCHEME,
      },
    },
  });
}
