/**
 * ajv, compiled once per schema at startup: request bodies (strict), query strings (strings
 * coerced to the schema's types, defaults applied) and responses (a bug guard on the way out).
 * Failures become problem+json with one JSON pointer per failing member.
 */
import { Ajv, type ErrorObject } from 'ajv';
import addFormats from 'ajv-formats';
import { ApiError } from './problem.ts';
import type { JsonSchema } from '../catalog/collections.ts';

function createAjv(options: ConstructorParameters<typeof Ajv>[0]) {
  const ajv = new Ajv({ allErrors: true, strict: true, multipleOfPrecision: 9, ...options });
  (addFormats as unknown as (a: Ajv) => void)(ajv);
  return ajv;
}

const bodies = createAjv({});
const queries = createAjv({ coerceTypes: true, useDefaults: true });
const responses = createAjv({ allErrors: false });

export interface FailedMember {
  readonly pointer: string;
  readonly detail: string;
}

/** One entry per pointer, in order, saying what is wrong in words a caller can act on. */
export function describeErrors(errors: readonly ErrorObject[], prefix: string): FailedMember[] {
  const byPointer = new Map<string, string>();
  for (const e of errors) {
    if (e.keyword === 'anyOf') continue; // its branches say more
    let pointer = `${prefix}${e.instancePath}`;
    let detail: string;
    if (e.keyword === 'required') {
      pointer = `${pointer}/${String(e.params.missingProperty)}`;
      detail = 'is required';
    } else if (e.keyword === 'additionalProperties') {
      pointer = `${pointer}/${String(e.params.additionalProperty)}`;
      detail = prefix.startsWith('/query') ? `unknown query parameter "${String(e.params.additionalProperty)}"` : 'is not a known property';
    } else if (e.keyword === 'enum') {
      detail = `must be one of ${(e.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    } else if (e.keyword === 'format') {
      detail = `must be a valid ${String(e.params.format)}${e.params.format === 'date-time' ? ' (RFC 3339, with an offset)' : e.params.format === 'date' ? ' (YYYY-MM-DD)' : ''}`;
    } else if (e.keyword === 'type' && prefix.startsWith('/query') && e.params.type !== 'null') {
      detail = Array.isArray(e.data) ? 'must be given once' : `must be ${String(e.params.type)}`;
    } else {
      detail = e.message ?? 'is invalid';
    }
    if (!byPointer.has(pointer || '/')) byPointer.set(pointer || '/', detail);
  }
  return [...byPointer].map(([pointer, detail]) => ({ pointer, detail }));
}

/** For collections of items (batches): the failing members of one item, without throwing. */
export function compileItemChecker(schema: JsonSchema) {
  const validate = bodies.compile(schema);
  return (item: unknown, prefix: string): FailedMember[] => (validate(item) ? [] : describeErrors(validate.errors ?? [], prefix));
}

export function compileBodyValidator(schema: JsonSchema) {
  const validate = bodies.compile(schema);
  return function validateBody(body: unknown, prefix = ''): Record<string, unknown> {
    if (body === undefined) {
      throw new ApiError('validation-failed', 'A JSON object body is required.', {
        members: { errors: [{ pointer: prefix || '/', detail: 'is required' }] },
      });
    }
    if (!validate(body)) {
      const members = describeErrors(validate.errors ?? [], prefix);
      throw new ApiError('validation-failed', members.map((m) => `${m.pointer} ${m.detail}`).join('; '), { members: { errors: members } });
    }
    return body as Record<string, unknown>;
  };
}

/** Returns a validated, type-coerced copy of the query (the original is left as sent). */
export function compileQueryValidator(schema: JsonSchema) {
  const validate = queries.compile(schema);
  return function validateQuery(query: Record<string, unknown>): Record<string, unknown> {
    const copy = { ...query };
    if (!validate(copy)) {
      const members = describeErrors(validate.errors ?? [], '/query');
      throw new ApiError('invalid-query', members.map((m) => `${m.pointer.replace('/query/', '')} ${m.detail}`).join('; '), {
        members: { errors: members },
      });
    }
    return copy;
  };
}

export function compileResponseValidator(schema: JsonSchema, name: string) {
  const validate = responses.compile(schema);
  return function checkResponse(body: unknown): void {
    if (!validate(body)) throw new Error(`response does not match the ${name} schema: ${JSON.stringify(validate.errors)}`);
  };
}
