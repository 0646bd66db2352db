/**
 * The resource collections, declared once. Routes, SQL, ajv schemas and the OpenAPI document are
 * all derived from these definitions, so they cannot drift apart.
 */
import type { CollectionPath } from './scopes.ts';

export type SqlType = 'uuid' | 'text' | 'date' | 'timestamptz' | 'integer' | 'numeric' | 'boolean';
export type JsonSchema = Record<string, unknown>;

export interface FieldDefinition {
  readonly column: string;
  readonly type: SqlType;
  /** the schema of a non-null value */
  readonly schema: JsonSchema;
  readonly description: string;
  /** must be given on create and replace */
  readonly required?: boolean;
  /** may be null (and is null when omitted, unless it has a default) */
  readonly nullable?: boolean;
  /** value used when omitted on create/replace */
  readonly default?: unknown;
  /** another collection this field points at (a composite foreign key with tenant_id) */
  readonly references?: CollectionName;
  /** a timestamp field whose UTC offset is kept in this column, so it is answered as it was sent */
  readonly offsetColumn?: string;
}

export interface FilterDefinition {
  readonly name: string;
  readonly schema: JsonSchema;
  readonly description: string;
  /** SQL condition; every `$?` is replaced by the filter's (one) parameter */
  readonly condition: string;
  /**
   * The column the condition narrows, and how. `equal` fixes it to one value, so an index
   * (tenant_id, column, sort key, id) serves the filter under every sort; `range` can be read in
   * index order only when the list is sorted by that column. test/integration/list-indexes.test.ts
   * derives the indexes every list needs from this.
   */
  readonly key: { readonly column: string; readonly match: 'equal' | 'range' };
}

export interface CrossFieldRule {
  readonly pointer: string;
  readonly detail: string;
  readonly holds: (resource: Record<string, unknown>) => boolean;
}

export interface CollectionDefinition {
  readonly name: CollectionName;
  readonly path: CollectionPath;
  readonly table: string;
  /** event and schema name stem, e.g. "employee" */
  readonly singular: string;
  readonly title: string;
  readonly fields: Readonly<Record<string, FieldDefinition>>;
  readonly filters: readonly FilterDefinition[];
  /** fields (NOT NULL columns) a list may be sorted by, besides id */
  readonly sortable: readonly string[];
  readonly rules: readonly CrossFieldRule[];
}

export type CollectionName = 'employees' | 'org_units' | 'contracts' | 'activity_definitions' | 'clockings' | 'absences';

// ajv's formats are looser than what we store: "uuid" accepts a urn:uuid: prefix and "date-time"
// accepts offsets without a colon and years Postgres cannot round-trip. The patterns narrow them.
const uuid = { type: 'string', format: 'uuid', pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' } as const;
const date = { type: 'string', format: 'date', pattern: '^(1[89]|2[0-9])[0-9]{2}-' } as const;
/** RFC 3339 with a colon in the offset, years 1970 to 2999 */
const instant = { type: 'string', format: 'date-time', pattern: '^(19[7-9][0-9]|2[0-9]{3})-.*(Z|z|[+-][0-9]{2}:[0-9]{2})$' } as const;
const text = (maxLength: number) => ({ type: 'string', minLength: 1, maxLength }) as const;

const updatedSince: FilterDefinition = {
  name: 'updated_since',
  schema: instant,
  description: 'only rows changed at or after this instant (RFC 3339): incremental sync',
  condition: 'updated_at >= $?::timestamptz',
  key: { column: 'updated_at', match: 'range' },
};
const byEmployee: FilterDefinition = {
  name: 'employee_id',
  schema: uuid,
  description: 'only rows of this employee',
  condition: 'employee_id = $?::uuid',
  key: { column: 'employee_id', match: 'equal' },
};
const overlapFrom: FilterDefinition = {
  name: 'from',
  schema: date,
  description: 'only periods ending on or after this date',
  condition: '(end_date IS NULL OR end_date >= $?::date)',
  key: { column: 'end_date', match: 'range' },
};
const overlapTo: FilterDefinition = {
  name: 'to',
  schema: date,
  description: 'only periods starting on or before this date',
  condition: 'start_date <= $?::date',
  key: { column: 'start_date', match: 'range' },
};

const notBefore = (later: string, earlier: string): CrossFieldRule => ({
  pointer: `/${later}`,
  detail: `${later} must not be before ${earlier}`,
  holds: (r) =>
    r[later] === null ||
    r[later] === undefined ||
    r[earlier] === null ||
    r[earlier] === undefined ||
    String(r[later]) >= String(r[earlier]),
});

export const COLLECTIONS: readonly CollectionDefinition[] = [
  {
    name: 'org_units',
    path: 'org-units',
    table: 'org_units',
    singular: 'org_unit',
    title: 'OrgUnit',
    fields: {
      code: { column: 'code', type: 'text', schema: text(64), required: true, description: 'unique code within the tenant' },
      name: { column: 'name', type: 'text', schema: text(200), required: true, description: 'display name' },
      parent_id: {
        column: 'parent_id',
        type: 'uuid',
        schema: uuid,
        nullable: true,
        references: 'org_units',
        description: 'the parent unit; null for a root',
      },
    },
    filters: [
      updatedSince,
      {
        name: 'parent_id',
        schema: { anyOf: [uuid, { const: 'null' }] },
        description: 'children of this unit, or `null` for the roots',
        // not `IS NOT DISTINCT FROM`, which no index serves: the parameter is a constant when the
        // statement is planned, so the CASE folds to `parent_id IS NULL` or `parent_id = '…'`
        condition: "CASE WHEN $?::text = 'null' THEN parent_id IS NULL ELSE parent_id = nullif($?::text, 'null')::uuid END",
        key: { column: 'parent_id', match: 'equal' },
      },
    ],
    sortable: ['code', 'name', 'created_at', 'updated_at'],
    rules: [],
  },
  {
    name: 'employees',
    path: 'employees',
    table: 'employees',
    singular: 'employee',
    title: 'Employee',
    fields: {
      employee_number: {
        column: 'employee_number',
        type: 'text',
        schema: text(64),
        required: true,
        description: 'unique number within the tenant',
      },
      first_name: { column: 'first_name', type: 'text', schema: text(200), required: true, description: 'given name' },
      last_name: { column: 'last_name', type: 'text', schema: text(200), required: true, description: 'family name' },
      email: {
        column: 'email',
        type: 'text',
        schema: { type: 'string', format: 'email', maxLength: 320 },
        nullable: true,
        description: 'work e-mail address',
      },
      hire_date: { column: 'hire_date', type: 'date', schema: date, nullable: true, description: 'first day of employment' },
      termination_date: { column: 'termination_date', type: 'date', schema: date, nullable: true, description: 'last day of employment' },
      org_unit_id: {
        column: 'org_unit_id',
        type: 'uuid',
        schema: uuid,
        nullable: true,
        references: 'org_units',
        description: 'the unit the employee belongs to',
      },
    },
    filters: [
      updatedSince,
      {
        name: 'org_unit_id',
        schema: uuid,
        description: 'only employees of this unit',
        condition: 'org_unit_id = $?::uuid',
        key: { column: 'org_unit_id', match: 'equal' },
      },
    ],
    sortable: ['employee_number', 'last_name', 'created_at', 'updated_at'],
    rules: [notBefore('termination_date', 'hire_date')],
  },
  {
    name: 'contracts',
    path: 'contracts',
    table: 'contracts',
    singular: 'contract',
    title: 'Contract',
    fields: {
      employee_id: {
        column: 'employee_id',
        type: 'uuid',
        schema: uuid,
        required: true,
        references: 'employees',
        description: 'the employee',
      },
      org_unit_id: {
        column: 'org_unit_id',
        type: 'uuid',
        schema: uuid,
        nullable: true,
        references: 'org_units',
        description: 'the unit the contract is with',
      },
      start_date: { column: 'start_date', type: 'date', schema: date, required: true, description: 'first day' },
      end_date: { column: 'end_date', type: 'date', schema: date, nullable: true, description: 'last day; null while open-ended' },
      weekly_hours: {
        column: 'weekly_hours',
        type: 'numeric',
        schema: { type: 'number', minimum: 0, maximum: 168, multipleOf: 0.01 },
        nullable: true,
        description: 'contractual hours per week',
      },
    },
    filters: [updatedSince, byEmployee, overlapFrom, overlapTo],
    sortable: ['start_date', 'created_at', 'updated_at'],
    rules: [notBefore('end_date', 'start_date')],
  },
  {
    name: 'activity_definitions',
    path: 'activity-definitions',
    table: 'activity_definitions',
    singular: 'activity_definition',
    title: 'ActivityDefinition',
    fields: {
      code: { column: 'code', type: 'text', schema: text(64), required: true, description: 'unique code within the tenant' },
      name: { column: 'name', type: 'text', schema: text(200), required: true, description: 'display name' },
      kind: {
        column: 'kind',
        type: 'text',
        schema: { enum: ['work', 'absence', 'break', 'other'] },
        required: true,
        description: 'what the activity is',
      },
    },
    filters: [
      updatedSince,
      {
        name: 'kind',
        schema: { enum: ['work', 'absence', 'break', 'other'] },
        description: 'only activities of this kind',
        condition: 'kind = $?',
        key: { column: 'kind', match: 'equal' },
      },
    ],
    sortable: ['code', 'name', 'created_at', 'updated_at'],
    rules: [],
  },
  {
    name: 'clockings',
    path: 'clockings',
    table: 'clockings',
    singular: 'clocking',
    title: 'Clocking',
    fields: {
      employee_id: {
        column: 'employee_id',
        type: 'uuid',
        schema: uuid,
        required: true,
        references: 'employees',
        description: 'who clocked',
      },
      timestamp: {
        column: 'occurred_at',
        type: 'timestamptz',
        offsetColumn: 'utc_offset_minutes',
        schema: instant,
        required: true,
        description: 'when, as an RFC 3339 timestamp with the offset of the terminal (kept as sent)',
      },
      direction: { column: 'direction', type: 'text', schema: { enum: ['in', 'out'] }, required: true, description: 'clocking in or out' },
      activity_definition_id: {
        column: 'activity_definition_id',
        type: 'uuid',
        schema: uuid,
        nullable: true,
        references: 'activity_definitions',
        description: 'the activity clocked for',
      },
      source_device: {
        column: 'source_device',
        type: 'text',
        schema: text(200),
        nullable: true,
        description: 'the terminal or app that recorded it',
      },
    },
    filters: [
      updatedSince,
      byEmployee,
      {
        name: 'from',
        schema: instant,
        description: 'only clockings at or after this instant',
        condition: 'occurred_at >= $?::timestamptz',
        key: { column: 'occurred_at', match: 'range' },
      },
      {
        name: 'to',
        schema: instant,
        description: 'only clockings before this instant',
        condition: 'occurred_at < $?::timestamptz',
        key: { column: 'occurred_at', match: 'range' },
      },
    ],
    sortable: ['timestamp', 'created_at', 'updated_at'],
    rules: [],
  },
  {
    name: 'absences',
    path: 'absences',
    table: 'absences',
    singular: 'absence',
    title: 'Absence',
    fields: {
      employee_id: {
        column: 'employee_id',
        type: 'uuid',
        schema: uuid,
        required: true,
        references: 'employees',
        description: 'who is absent',
      },
      activity_definition_id: {
        column: 'activity_definition_id',
        type: 'uuid',
        schema: uuid,
        required: true,
        references: 'activity_definitions',
        description: 'the kind of absence',
      },
      start_date: { column: 'start_date', type: 'date', schema: date, required: true, description: 'first day' },
      end_date: { column: 'end_date', type: 'date', schema: date, required: true, description: 'last day' },
      start_half_day: {
        column: 'start_half_day',
        type: 'boolean',
        schema: { type: 'boolean' },
        default: false,
        description: 'the first day is a half day',
      },
      end_half_day: {
        column: 'end_half_day',
        type: 'boolean',
        schema: { type: 'boolean' },
        default: false,
        description: 'the last day is a half day',
      },
      status: {
        column: 'status',
        type: 'text',
        schema: { enum: ['requested', 'approved', 'rejected', 'cancelled'] },
        default: 'requested',
        description: 'where the request stands',
      },
    },
    filters: [
      updatedSince,
      byEmployee,
      overlapFrom,
      overlapTo,
      {
        name: 'status',
        schema: { enum: ['requested', 'approved', 'rejected', 'cancelled'] },
        description: 'only absences in this status',
        condition: 'status = $?',
        key: { column: 'status', match: 'equal' },
      },
    ],
    sortable: ['start_date', 'created_at', 'updated_at'],
    rules: [notBefore('end_date', 'start_date')],
  },
];

export function collectionByName(name: CollectionName): CollectionDefinition {
  const found = COLLECTIONS.find((c) => c.name === name);
  if (!found) throw new TypeError(`unknown collection ${name}`);
  return found;
}
