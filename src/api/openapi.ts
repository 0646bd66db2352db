/**
 * The OpenAPI 3.1 document of a tenant's API, generated from the collection definitions and the
 * very schemas the routes validate with. The security scheme points at the tenant's own token
 * endpoint (client_credentials) and every operation names its scope.
 */
import { batchRequestSchema, batchResponseSchema, MAX_BATCH_ITEMS } from './clocking-batch.ts';
import {
  listQuerySchema,
  listSchema,
  patchSchema,
  resourceSchema,
  TOMBSTONE_SCHEMA,
  writeSchema,
} from './collections/collection-schemas.ts';
import { eventFeedQuerySchema, eventListSchema, eventSchema } from './event-feed.ts';
import { EVENTS_READ_SCOPE } from '../catalog/scopes.ts';
import { COLLECTIONS, type CollectionDefinition, type JsonSchema } from '../catalog/collections.ts';

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

const problem = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
});
const json = (description: string, ref: string) => ({
  description,
  content: { 'application/json': { schema: { $ref: `#/components/schemas/${ref}` } } },
});

const COMMON_ERRORS = {
  '400': problem('malformed request, unknown query parameter, or a tenant named in the request'),
  '401': problem('missing, invalid or expired access token (see WWW-Authenticate)'),
  '403': problem('the token lacks the scope, or the tenant is suspended'),
};
/** what a PUT or PATCH of one resource may answer besides 200 */
const CHANGE_ERRORS = {
  ...COMMON_ERRORS,
  '404': problem('no such resource in this tenant'),
  '409': problem('a unique value is taken'),
  '412': problem('If-Match does not match the current version'),
  '422': problem('invalid body or a reference to nothing'),
  '428': problem('If-Match is required'),
};
const ifMatch = {
  name: 'If-Match',
  in: 'header',
  required: true,
  description: 'the ETag of the version you change (required: 428 without it, 412 if stale)',
  schema: { type: 'string' },
};
const idempotencyKey = {
  name: 'Idempotency-Key',
  in: 'header',
  required: false,
  description: 'makes a retried POST return the first response (kept 24 h per client)',
  schema: { type: 'string', maxLength: 255 },
};
const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } };
const etagHeader = { ETag: { description: 'the version, for If-Match', schema: { type: 'string' } } };

/**
 * "a contract", "an employee": by the first letter, which is right for every collection noun here
 * (none starts with a silent h or a "you" sound; the summary test names each expected phrase).
 */
export function withArticle(noun: string): string {
  return `${/^[aeiou]/i.test(noun) ? 'an' : 'a'} ${noun}`;
}

/** Either scheme may authorize an operation: a token from the flow, or one pasted as a bearer token. */
const securityFor = (scope: string) => [{ oauth2: [scope] }, { bearer: [] }];

function collectionPaths(def: CollectionDefinition): Record<string, unknown> {
  const name = def.title;
  const read = securityFor(`${def.path}:read`);
  const write = securityFor(`${def.path}:write`);
  const label = withArticle(def.singular.replace('_', ' '));
  const query = listQuerySchema(def) as { properties: Record<string, JsonSchema & { description?: string }> };
  return {
    [`/${def.path}`]: {
      get: {
        operationId: `list${name}s`,
        summary: `List ${def.path.replace('-', ' ')}`,
        tags: [name],
        security: read,
        parameters: Object.entries(query.properties).map(([param, schema]) => ({
          name: param,
          in: 'query',
          required: false,
          description: schema.description,
          schema,
        })),
        responses: {
          '200': {
            ...json('a page; follow `next` (or the Link header) for more; tombstones only with include_deleted=true', `${name}List`),
            headers: { Link: { schema: { type: 'string' } } },
          },
          ...COMMON_ERRORS,
          '410': problem('include_deleted=true with an updated_since older than the deletions kept: load the whole collection again'),
        },
      },
      post: {
        operationId: `create${name}`,
        summary: `Create ${label}`,
        tags: [name],
        security: write,
        parameters: [idempotencyKey],
        requestBody: { required: true, content: { 'application/json': { schema: { $ref: `#/components/schemas/${name}Write` } } } },
        responses: {
          '201': { ...json('created', name), headers: { ...etagHeader, Location: { schema: { type: 'string', format: 'uri' } } } },
          ...COMMON_ERRORS,
          '409': problem('a unique value is taken'),
          '422': problem('invalid body, a reference to nothing, or an Idempotency-Key reused for another request'),
        },
      },
    },
    [`/${def.path}/{id}`]: {
      parameters: [idParam],
      get: {
        operationId: `get${name}`,
        summary: `Get ${label}`,
        tags: [name],
        security: read,
        responses: {
          '200': { ...json('the resource', name), headers: etagHeader },
          ...COMMON_ERRORS,
          '404': problem('no such resource in this tenant'),
        },
      },
      put: {
        operationId: `replace${name}`,
        summary: `Replace ${label}`,
        tags: [name],
        security: write,
        parameters: [ifMatch],
        requestBody: { required: true, content: { 'application/json': { schema: { $ref: `#/components/schemas/${name}Write` } } } },
        responses: { '200': { ...json('replaced', name), headers: etagHeader }, ...CHANGE_ERRORS },
      },
      patch: {
        operationId: `patch${name}`,
        summary: `Change some fields of ${label} (JSON merge patch)`,
        tags: [name],
        security: write,
        parameters: [ifMatch],
        requestBody: {
          required: true,
          content: {
            'application/merge-patch+json': { schema: { $ref: `#/components/schemas/${name}Patch` } },
            'application/json': { schema: { $ref: `#/components/schemas/${name}Patch` } },
          },
        },
        responses: { '200': { ...json('changed', name), headers: etagHeader }, ...CHANGE_ERRORS },
      },
      delete: {
        operationId: `delete${name}`,
        summary: `Delete ${label}`,
        tags: [name],
        security: write,
        parameters: [ifMatch],
        responses: {
          '204': { description: 'deleted' },
          ...COMMON_ERRORS,
          '404': problem('no such resource in this tenant'),
          '409': problem('other resources still refer to it'),
          '412': problem('If-Match does not match the current version'),
          '428': problem('If-Match is required'),
        },
      },
    },
  };
}

export interface OpenApiInput {
  readonly apiBase: string;
  readonly tokenUrl: string;
  readonly scopes: readonly string[];
  readonly tenantName: string;
}

export function buildOpenApiDocument(input: OpenApiInput): Record<string, unknown> {
  const schemas: Record<string, JsonSchema> = {
    Problem: problemSchema,
    ClockingBatch: batchRequestSchema,
    ClockingBatchResult: batchResponseSchema,
    Tombstone: TOMBSTONE_SCHEMA,
    Event: eventSchema,
    EventList: {
      ...eventListSchema,
      properties: { ...(eventListSchema.properties as object), data: { type: 'array', items: { $ref: '#/components/schemas/Event' } } },
    },
  };
  for (const def of COLLECTIONS) {
    const resource = resourceSchema(def);
    schemas[def.title] = resource;
    schemas[`${def.title}Write`] = writeSchema(def);
    schemas[`${def.title}Patch`] = patchSchema(def);
    schemas[`${def.title}List`] = listSchema({ $ref: `#/components/schemas/${def.title}` }, { $ref: '#/components/schemas/Tombstone' });
  }
  const paths: Record<string, unknown> = Object.assign({}, ...COLLECTIONS.map(collectionPaths));
  paths['/clockings/batch'] = {
    post: {
      operationId: 'createClockingBatch',
      summary: `Create up to ${MAX_BATCH_ITEMS} clockings at once, all or nothing`,
      tags: ['Clocking'],
      security: securityFor('clockings:write'),
      parameters: [idempotencyKey],
      requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/ClockingBatch' } } } },
      responses: {
        '201': json('all created; ids in item order', 'ClockingBatchResult'),
        ...COMMON_ERRORS,
        '422': problem(
          'some items are invalid: `failed_items` and `errors` (pointers like /items/3/direction) say which; nothing was written',
        ),
      },
    },
  };
  const feedQuery = eventFeedQuerySchema as { properties: Record<string, JsonSchema & { description?: string }> };
  paths['/events'] = {
    get: {
      operationId: 'listEvents',
      summary: 'List the events of the tenant, oldest first (the webhooks’ types and payloads)',
      tags: ['Event'],
      security: securityFor(EVENTS_READ_SCOPE),
      parameters: Object.entries(feedQuery.properties).map(([param, schema]) => ({
        name: param,
        in: 'query',
        required: false,
        description: schema.description,
        schema,
      })),
      responses: {
        '200': {
          ...json('a page; follow `next` while it is not null, then poll with after=<the last id>', 'EventList'),
          headers: { Link: { schema: { type: 'string' } } },
        },
        ...COMMON_ERRORS,
        '410': problem('`after` names no event of this feed (unknown, or older than the events kept): page from created_after'),
      },
    },
  };
  return {
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
      },
    },
  };
}
