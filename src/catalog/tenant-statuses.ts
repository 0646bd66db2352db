/** A tenant's lifecycle states: the database's CHECK, the admin API's schemas and the CLI's choices share the list. */
export const TENANT_STATUSES = ['PENDING', 'ACTIVE', 'SUSPENDED'] as const;
export type TenantStatus = (typeof TENANT_STATUSES)[number];
