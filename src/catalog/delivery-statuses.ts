/** Where a webhook delivery stands: the worker writes them, the admin API filters and reports them. */
export const DELIVERY_STATUSES = ['pending', 'delivered', 'failed'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];
