/**
 * What is wrong with a list query's plan (EXPLAIN (FORMAT JSON)) for a large tenant: pure, apart
 * from the EXPLAIN that feeds it. A list page must read the table by an index scan whose bound
 * (Index Cond) names tenant_id, in the index's order: no sequential or bitmap scan of the table
 * and no sort of the tenant's rows.
 */

export interface PlanNode {
  readonly 'Node Type': string;
  readonly 'Relation Name'?: string;
  readonly 'Index Name'?: string;
  readonly 'Index Cond'?: string;
  readonly 'Sort Key'?: readonly string[];
  readonly 'Presorted Key'?: readonly string[];
  readonly Plans?: readonly PlanNode[];
}

export const planNodes = (plan: PlanNode): PlanNode[] => [plan, ...(plan.Plans ?? []).flatMap(planNodes)];

/** What bounds a read: its Index Cond, or a bitmap heap scan's index scans' conditions. */
function boundOf(node: PlanNode): string {
  return node['Index Cond'] ?? (node.Plans ?? []).map(boundOf).filter(Boolean).join(' AND ');
}

/** Whether a bound fixes a column besides tenant_id to one value (an equality filter: an employee's rows). */
function narrowedByEquality(bound: string): boolean {
  return bound.split(/\bAND\b/).some((part) => /[^<>!]=/.test(part) && !/\btenant_id\b/.test(part));
}

/**
 * Empty when every read of `table` is an index scan bounded by tenant_id and nothing but the rows
 * of an equality filter is sorted. A bitmap scan bounded by tenant_id and an equality filter,
 * then a top-N sort of those rows (one employee's), is the planner's cheaper way to the same page:
 * its cost grows with that employee's rows, not the tenant's.
 */
export function planFindings(plan: PlanNode, table: string): string[] {
  const findings: string[] = [];
  const nodes = planNodes(plan);
  const reads = nodes.filter((n) => n['Relation Name'] === table);
  if (reads.length === 0) findings.push(`does not read ${table}`);
  for (const read of reads) {
    if (!['Index Scan', 'Index Only Scan', 'Bitmap Heap Scan'].includes(read['Node Type'])) {
      findings.push(`reads ${table} by ${read['Node Type']}`);
    } else if (!/\btenant_id\b/.test(boundOf(read))) {
      findings.push(`reads ${read['Index Name'] ?? table} not bounded by tenant_id (${boundOf(read) || 'no Index Cond'})`);
    }
  }
  for (const node of nodes) {
    // an incremental sort only of ties of a unique key (which never occur) costs nothing
    const tiesOnly = node['Node Type'] === 'Incremental Sort' && node['Presorted Key']?.length === (node['Sort Key']?.length ?? 0) - 1;
    if ((node['Node Type'] !== 'Sort' && node['Node Type'] !== 'Incremental Sort') || tiesOnly) continue;
    const sorted = planNodes(node).filter((n) => n['Relation Name'] === table);
    if (sorted.length > 0 && sorted.every((read) => narrowedByEquality(boundOf(read)))) continue;
    findings.push(`sorts by ${node['Sort Key']?.join(', ')}`);
  }
  return findings;
}

/** One line for a plan: each table read, by what, bounded how; each sort. */
export function planSummary(plan: PlanNode): string {
  return planNodes(plan)
    .filter((n) => n['Relation Name'] !== undefined || n['Node Type'].includes('Sort'))
    .map((n) => {
      if (n['Relation Name'] === undefined) return `${n['Node Type']} by ${n['Sort Key']?.join(', ')}`;
      const bound = boundOf(n);
      return `${n['Node Type']}${n['Index Name'] ? ` using ${n['Index Name']}` : ''} on ${n['Relation Name']}${bound ? ` (${bound})` : ''}`;
    })
    .join('; ');
}

/** From EXPLAIN (ANALYZE, BUFFERS) text: the execution time and the top node's buffers. */
export function analyzedCost(text: string): { executionMs: number | undefined; buffers: string | undefined } {
  const time = /Execution Time: ([\d.]+) ms/.exec(text);
  const buffers = /Buffers: ([^\n]+)/.exec(text);
  return { executionMs: time ? Number(time[1]) : undefined, buffers: buffers?.[1]?.trim() };
}
