/**
 * The event types a subscription may ask for: `<singular>.created|updated|deleted` for every
 * resource collection, the tenant's lifecycle, client secret rotation, and the on-demand test.
 */
import { COLLECTIONS } from '../catalog/collections.ts';

export const RESOURCE_ACTIONS = ['created', 'updated', 'deleted'] as const;
export type ResourceAction = (typeof RESOURCE_ACTIONS)[number];

export const TEST_EVENT_TYPE = 'webhook.test';

export const EVENT_TYPES: readonly string[] = [
  ...COLLECTIONS.flatMap((def) => RESOURCE_ACTIONS.map((action) => `${def.singular}.${action}`)),
  'tenant.suspended',
  'tenant.activated',
  'client.secret_rotated',
  'sandbox.reset',
  TEST_EVENT_TYPE,
];

/** `*`, `<prefix>.*` or an exact type (the database's CHECK on webhook_subscriptions says the same). */
export const EVENT_PATTERN = /^(\*|[a-z_]+\.\*|[a-z_]+\.[a-z_]+)$/;

/** The fan-out trigger's rule (outbox_events_fan_out), for validation and tests. */
export function typeMatches(patterns: readonly string[], type: string): boolean {
  return patterns.some((p) => p === '*' || p === type || (p.endsWith('.*') && type.startsWith(p.slice(0, -1))));
}

/** A pattern no event type matches is almost certainly a typo. */
export function matchesAnyEventType(pattern: string): boolean {
  return EVENT_TYPES.some((type) => typeMatches([pattern], type));
}
