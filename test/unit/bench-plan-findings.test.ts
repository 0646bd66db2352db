/** data-growth's check of a list query's plan: index scans bounded by tenant_id, nothing sorted. */
import { describe, expect, it } from 'vitest';
import { analyzedCost, type PlanNode, planFindings, planSummary } from '../../bench/plan-findings.ts';

const limit = (...plans: PlanNode[]): PlanNode => ({ 'Node Type': 'Limit', Plans: plans });
const indexScan = (index: string, cond: string | undefined): PlanNode => ({
  'Node Type': 'Index Scan',
  'Relation Name': 'clockings',
  'Index Name': index,
  ...(cond === undefined ? {} : { 'Index Cond': cond }),
});

describe('planFindings', () => {
  it('finds nothing in an index scan bounded by tenant_id', () => {
    const plan = limit(indexScan('clockings_by_updated_at', "((tenant_id = 'a'::uuid) AND (updated_at >= '2026-01-01'::timestamptz))"));
    expect(planFindings(plan, 'clockings')).toEqual([]);
    expect(planSummary(plan)).toBe(
      "Index Scan using clockings_by_updated_at on clockings (((tenant_id = 'a'::uuid) AND (updated_at >= '2026-01-01'::timestamptz)))",
    );
  });

  it('names a sequential or bitmap scan of the table', () => {
    expect(planFindings(limit({ 'Node Type': 'Seq Scan', 'Relation Name': 'clockings' }), 'clockings')).toEqual([
      'reads clockings by Seq Scan',
    ]);
    expect(planFindings(limit({ 'Node Type': 'Bitmap Heap Scan', 'Relation Name': 'clockings' }), 'clockings')).toEqual([
      'reads clockings not bounded by tenant_id (no Index Cond)',
    ]);
  });

  it('names an index scan that tenant_id does not bound (a filter is not a bound)', () => {
    expect(planFindings(limit(indexScan('clockings_by_occurred_at', undefined)), 'clockings')).toEqual([
      'reads clockings_by_occurred_at not bounded by tenant_id (no Index Cond)',
    ]);
    expect(planFindings(limit(indexScan('other', '(the_tenant_ids = 1)')), 'clockings')).toHaveLength(1);
  });

  it('names a sort of the rows, but not an incremental sort of a unique key’s ties', () => {
    const sorted = limit({ 'Node Type': 'Sort', 'Sort Key': ['clockings.id'], Plans: [indexScan('x', '(tenant_id = 1)')] });
    expect(planFindings(sorted, 'clockings')).toEqual(['sorts by clockings.id']);
    const ties: PlanNode = {
      'Node Type': 'Incremental Sort',
      'Sort Key': ['clockings.updated_at', 'clockings.id'],
      'Presorted Key': ['clockings.updated_at'],
      Plans: [indexScan('x', '(tenant_id = 1)')],
    };
    expect(planFindings(limit(ties), 'clockings')).toEqual([]);
    const partial: PlanNode = { ...ties, 'Sort Key': ['a', 'b', 'c'], 'Presorted Key': ['a'] };
    expect(planFindings(limit(partial), 'clockings')).toEqual(['sorts by a, b, c']);
  });

  it("accepts a bitmap scan of one employee's rows and their top-N sort, not a sort of the tenant's rows", () => {
    const bitmap = (cond: string): PlanNode => ({
      'Node Type': 'Bitmap Heap Scan',
      'Relation Name': 'clockings',
      Plans: [{ 'Node Type': 'Bitmap Index Scan', 'Index Name': 'clockings_by_employee_id', 'Index Cond': cond }],
    });
    const employee = "((tenant_id = 'a'::uuid) AND (employee_id = 'b'::uuid))";
    const sortOf = (read: PlanNode) => limit({ 'Node Type': 'Sort', 'Sort Key': ['clockings.id'], Plans: [read] });
    expect(planFindings(sortOf(bitmap(employee)), 'clockings')).toEqual([]);
    expect(planSummary(sortOf(bitmap(employee)))).toBe(`Sort by clockings.id; Bitmap Heap Scan on clockings (${employee})`);
    expect(planFindings(sortOf(bitmap("((tenant_id = 'a'::uuid) AND (updated_at >= '2026-01-01'))")), 'clockings')).toEqual([
      'sorts by clockings.id',
    ]);
  });

  it('reads the execution time and buffers of EXPLAIN ANALYZE', () => {
    const text = 'Limit  (cost=…)\n  Buffers: shared hit=12 read=3\n  ->  Index Scan …\nPlanning Time: 0.2 ms\nExecution Time: 1.234 ms';
    expect(analyzedCost(text)).toEqual({ executionMs: 1.234, buffers: 'shared hit=12 read=3' });
    expect(analyzedCost('Result')).toEqual({ executionMs: undefined, buffers: undefined });
  });

  it('names a plan that does not read the table at all', () => {
    expect(planFindings(limit({ 'Node Type': 'Result' }), 'clockings')).toEqual(['does not read clockings']);
  });
});
