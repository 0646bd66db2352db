/**
 * The rows data-growth loads, as pure functions: how many clockings each tenant gets, how many
 * employees and activities it needs for them, and the clockings themselves as COPY text lines.
 * Deterministic (no randomness): the same settings load the same data, so runs compare.
 */

/** clockings per employee: a year and a half of two clockings a working day */
export const CLOCKINGS_PER_EMPLOYEE = 1_000;
/** activity definitions per tenant; one clocking in ACTIVITY_EVERY names one, the others none */
export const ACTIVITIES_PER_TENANT = 4;
export const ACTIVITY_EVERY = 10;
/** one clocking in CORRECTED_EVERY was corrected after it was recorded: a later updated_at, version 2 */
export const CORRECTED_EVERY = 20;
/** the first clocking of every tenant; each tenant's clockings are spread over SPAN_MS after it */
export const FIRST_CLOCKING_MS = Date.UTC(2025, 0, 1);
export const SPAN_MS = 2 * 365 * 86_400_000;

/** The columns of each COPY line, in order. */
export const CLOCKING_COLUMNS = [
  'tenant_id',
  'id',
  'employee_id',
  'occurred_at',
  'utc_offset_minutes',
  'direction',
  'activity_definition_id',
  'source_device',
  'created_at',
  'updated_at',
  'version',
] as const;

/**
 * Clockings per tenant: the first (the largest) gets `largest`, the others share the rest as
 * evenly as whole rows allow (the first `rest % others` of them one more). The counts add up to
 * `total` exactly.
 */
export function clockingsPerTenant(total: number, tenants: number, largest: number): number[] {
  if (!Number.isInteger(total) || !Number.isInteger(tenants) || !Number.isInteger(largest))
    throw new TypeError('clockings, tenants and the largest tenant must be whole numbers');
  if (tenants < 1) throw new RangeError('at least one tenant');
  if (largest > total) throw new RangeError(`the largest tenant (${largest}) cannot have more than all clockings (${total})`);
  if (tenants === 1) {
    if (largest !== total) throw new RangeError('one tenant holds every clocking');
    return [total];
  }
  const others = tenants - 1;
  const rest = total - largest;
  const share = Math.floor(rest / others);
  if (share > largest) throw new RangeError(`the largest tenant (${largest}) would be smaller than the others (${share})`);
  const extra = rest % others;
  return [largest, ...Array.from({ length: others }, (_, i) => share + (i < extra ? 1 : 0))];
}

export function employeesFor(clockings: number): number {
  return Math.max(1, Math.ceil(clockings / CLOCKINGS_PER_EMPLOYEE));
}

/**
 * A UUIDv7 as src/db/ids.ts makes them (creation ms first, so id order is creation order), with a
 * sequence number in the last 48 bits where those have randomness: unique and ascending within a
 * tenant, as long as `ms` does not go back.
 */
export function sequentialUuidv7(ms: number, sequence: number): string {
  const time = Math.floor(ms).toString(16).padStart(12, '0');
  return `${time.slice(0, 8)}-${time.slice(8)}-7000-8000-${sequence.toString(16).padStart(12, '0')}`;
}

export interface TenantRows {
  readonly tenantId: string;
  readonly count: number;
  readonly employeeIds: readonly string[];
  readonly activityIds: readonly string[];
}

/**
 * COPY text lines for one tenant's clockings, `chunk` lines per string: in time order, spread
 * evenly over SPAN_MS, round robin over its employees (each alternating in and out), recorded a
 * few seconds after they happened, one in CORRECTED_EVERY corrected a day later.
 */
export function* clockingLines(tenant: TenantRows, chunk = 2_000): Generator<string> {
  const step = SPAN_MS / tenant.count;
  const employees = tenant.employeeIds.length;
  let lines: string[] = [];
  for (let i = 0; i < tenant.count; i++) {
    const occurred = FIRST_CLOCKING_MS + Math.floor(i * step);
    const created = occurred + 1_000 + (i % 50) * 100;
    const corrected = i % CORRECTED_EVERY === CORRECTED_EVERY - 1;
    const updated = corrected ? created + 86_400_000 : created;
    const employee = tenant.employeeIds[i % employees] as string;
    const direction = Math.floor(i / employees) % 2 === 0 ? 'in' : 'out';
    const activity = i % ACTIVITY_EVERY === 0 ? (tenant.activityIds[(i / ACTIVITY_EVERY) % tenant.activityIds.length] ?? '\\N') : '\\N';
    lines.push(
      `${tenant.tenantId}\t${sequentialUuidv7(created, i)}\t${employee}\t${new Date(occurred).toISOString()}\t60\t${direction}\t${activity}\tterminal-${i % 7}\t${new Date(created).toISOString()}\t${new Date(updated).toISOString()}\t${corrected ? 2 : 1}\n`,
    );
    if (lines.length === chunk) {
      yield lines.join('');
      lines = [];
    }
  }
  if (lines.length) yield lines.join('');
}
