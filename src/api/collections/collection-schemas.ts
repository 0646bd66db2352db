/**
 * JSON Schemas derived from a collection definition: what a resource looks like, what a create,
 * replace or patch body may hold, and what a list query accepts. ajv validates with these and the
 * OpenAPI document is built from the very same objects.
 */
import { MAX_LIMIT, PAGE_LIMIT } from '../../catalog/page-limits.ts';
import type { CollectionDefinition, FieldDefinition, JsonSchema } from '../../catalog/collections.ts';

const nullable = (field: FieldDefinition, schema: JsonSchema): JsonSchema =>
  field.nullable ? { anyOf: [schema, { type: 'null' }] } : schema;

function fieldSchema(field: FieldDefinition): JsonSchema {
  return { ...nullable(field, field.schema), description: field.description };
}

export function resourceSchema(def: CollectionDefinition): JsonSchema {
  const properties: Record<string, JsonSchema> = { id: { type: 'string', format: 'uuid', description: 'assigned by the server' } };
  for (const [name, field] of Object.entries(def.fields)) {
    // in a representation, an optional field without default is null when unset
    properties[name] = {
      ...(field.nullable || (!field.required && field.default === undefined) ? { anyOf: [field.schema, { type: 'null' }] } : field.schema),
      description: field.description,
    };
  }
  properties.created_at = { type: 'string', format: 'date-time' };
  properties.updated_at = { type: 'string', format: 'date-time' };
  properties.version = { type: 'integer', minimum: 1, description: 'increases with every change; the ETag' };
  return { type: 'object', properties, required: Object.keys(properties), additionalProperties: false };
}

/** Body of POST and PUT: every required field, nothing unknown. */
export function writeSchema(def: CollectionDefinition): JsonSchema {
  const properties = Object.fromEntries(Object.entries(def.fields).map(([name, field]) => [name, fieldSchema(field)]));
  const required = Object.entries(def.fields)
    .filter(([, f]) => f.required)
    .map(([name]) => name);
  return { type: 'object', properties, required, additionalProperties: false };
}

/** Body of PATCH (JSON merge patch, RFC 7396): any subset; null clears a nullable field. */
export function patchSchema(def: CollectionDefinition): JsonSchema {
  const properties = Object.fromEntries(Object.entries(def.fields).map(([name, field]) => [name, fieldSchema(field)]));
  return { type: 'object', properties, minProperties: 1, additionalProperties: false };
}

export function sortValues(def: CollectionDefinition): string[] {
  return ['id', ...def.sortable].flatMap((f) => [f, `-${f}`]);
}

export function listQuerySchema(def: CollectionDefinition): JsonSchema {
  const properties: Record<string, JsonSchema> = {
    limit: { ...PAGE_LIMIT, description: `page size, 1 to ${MAX_LIMIT}` },
    cursor: { type: 'string', minLength: 1, maxLength: 512, description: 'from the `next` link of the previous page' },
    sort: {
      enum: sortValues(def),
      default: 'id',
      description: 'order of the list; `-` for descending. Ids are time-ordered, so `id` is creation order',
    },
  };
  for (const filter of def.filters) properties[filter.name] = { ...filter.schema, description: filter.description };
  properties.include_deleted = {
    type: 'boolean',
    description:
      'with `updated_since` (and no other filter), also the rows deleted since, as tombstones, in one `updated_at` order; 410 when `updated_since` is older than what is kept',
  };
  return { type: 'object', properties, additionalProperties: false };
}

/** What a list with include_deleted=true holds for a row deleted since updated_since. */
export const TOMBSTONE_SCHEMA: JsonSchema = {
  type: 'object',
  description: 'a deleted resource, in lists with include_deleted=true',
  properties: {
    id: { type: 'string', format: 'uuid' },
    deleted: { const: true },
    deleted_at: { type: 'string', format: 'date-time', description: 'when it was deleted; its place in the updated_at order' },
  },
  required: ['id', 'deleted', 'deleted_at'],
  additionalProperties: false,
};

export const NO_QUERY_SCHEMA: JsonSchema = { type: 'object', properties: {}, additionalProperties: false };

/** A page of a collection: resources, and tombstones when the list includes deletions. */
export function listSchema(resource: JsonSchema, tombstone: JsonSchema = TOMBSTONE_SCHEMA): JsonSchema {
  return {
    type: 'object',
    properties: {
      data: { type: 'array', items: { anyOf: [resource, tombstone] } },
      next: { type: ['string', 'null'], description: 'URL of the next page; null on the last' },
    },
    required: ['data', 'next'],
    additionalProperties: false,
  };
}

/**
 * Every schema of one collection, made once: the routes validate with these objects and the
 * document names the same objects as its components (`list` refers to the resource and the
 * tombstone by $ref).
 */
export function collectionSchemas(def: CollectionDefinition) {
  return {
    resource: resourceSchema(def),
    write: writeSchema(def),
    patch: patchSchema(def),
    list: listSchema({ $ref: `#/components/schemas/${def.title}` }, { $ref: '#/components/schemas/Tombstone' }),
    listQuery: listQuerySchema(def),
  };
}
