/**
 * Employee queries. Every statement names the tenant itself, and runs inside a scoped transaction
 * whose row level security would hide other tenants' rows even if it did not.
 */
import type { ScopedTransaction } from '../db/database.ts';

export interface Employee {
  readonly id: string;
  readonly employee_number: string;
  readonly first_name: string;
  readonly last_name: string;
  readonly email: string | null;
  readonly hire_date: string | null;
  readonly termination_date: string | null;
  readonly org_unit_id: string | null;
  readonly created_at: string;
  readonly updated_at: string;
  readonly version: number;
}

const COLUMNS = `id, employee_number, first_name, last_name, email,
  to_char(hire_date, 'YYYY-MM-DD') AS hire_date, to_char(termination_date, 'YYYY-MM-DD') AS termination_date,
  org_unit_id, to_json(created_at)#>>'{}' AS created_at, to_json(updated_at)#>>'{}' AS updated_at, version`;

function tenantOf(tx: ScopedTransaction): string {
  if (!tx.tenantId) throw new TypeError('employee queries need a tenant-scoped transaction');
  return tx.tenantId;
}

export function createEmployeeQueries() {
  return {
    async findEmployeeById(tx: ScopedTransaction, id: string): Promise<Employee | undefined> {
      const [row] = await tx.query<Employee & Record<string, unknown>>(
        `SELECT ${COLUMNS} FROM employees WHERE tenant_id = $1 AND id = $2`,
        [tenantOf(tx), id],
      );
      return row;
    },
    /** Keyset page in id order: stable under concurrent inserts (no row repeats or is skipped). */
    async listEmployees(tx: ScopedTransaction, page: { after: string | null; limit: number }): Promise<Employee[]> {
      return tx.query<Employee & Record<string, unknown>>(
        `SELECT ${COLUMNS} FROM employees
          WHERE tenant_id = $1 AND ($2::uuid IS NULL OR id > $2::uuid)
          ORDER BY id
          LIMIT $3`,
        [tenantOf(tx), page.after, page.limit],
      );
    },
  };
}
export type EmployeeQueries = ReturnType<typeof createEmployeeQueries>;
