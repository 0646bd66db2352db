/**
 * The scope catalogue: `<collection>:read` and `<collection>:write` for every resource collection
 * and `events:read` for the events feed,
 * named as in the API's paths. A tenant offers all of them unless its settings narrow the list.
 */
export const COLLECTION_PATHS = ['employees', 'org-units', 'contracts', 'activity-definitions', 'clockings', 'absences'] as const;
export type CollectionPath = (typeof COLLECTION_PATHS)[number];

/** Reads the tenant's events feed (GET /api/v1/events). */
export const EVENTS_READ_SCOPE = 'events:read';

/** Every scope of the resource API: the collections', then the events feed's. */
export const ALL_SCOPES: readonly string[] = [...COLLECTION_PATHS.flatMap((path) => [`${path}:read`, `${path}:write`]), EVENTS_READ_SCOPE];

/** Lets a tenant's own client manage that tenant's clients (and webhooks) on the admin API. */
export const TENANT_ADMIN_SCOPE = 'tenant:admin';
/** The platform issuer's only scope: everything on the admin API. */
export const PLATFORM_ADMIN_SCOPE = 'platform:admin';

/** What a tenant may offer: the API's scopes and self-service administration. */
export const TENANT_SCOPES: readonly string[] = [...ALL_SCOPES, TENANT_ADMIN_SCOPE];
