/** The page sizes of every paged list, resource API and admin API alike (and the CLI's help). */
export const DEFAULT_LIMIT = 50;
export const MAX_LIMIT = 200;
/** The `limit` query parameter of every paged list. */
export const PAGE_LIMIT = { type: 'integer', minimum: 1, maximum: MAX_LIMIT, default: DEFAULT_LIMIT } as const;
