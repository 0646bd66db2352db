/**
 * The scope catalogue: `<collection>:read` and `<collection>:write` for every resource collection,
 * named as in the API's paths. A tenant offers all of them unless its settings narrow the list.
 */
export const COLLECTION_PATHS = ['employees', 'org-units', 'contracts', 'activity-definitions', 'clockings', 'absences'] as const;
export type CollectionPath = (typeof COLLECTION_PATHS)[number];

export const ALL_SCOPES: readonly string[] = COLLECTION_PATHS.flatMap((path) => [`${path}:read`, `${path}:write`]);
