import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { summarizeHeapSnapshot } from '../../bench/heap-summary.ts';

const MB = 1024 * 1024;
const NODE_TYPES = ['hidden', 'array', 'string', 'object', 'code', 'closure'];
const EDGE_TYPES = ['context', 'element', 'property', 'internal', 'hidden', 'shortcut', 'weak'];

/** A heap snapshot in V8's format: nodes as [type, name, self size], edges as [from, to, type]. */
function snapshot(nodes: [string, string, number][], edges: [number, number, string][]) {
  const strings = [...new Set(nodes.map(([, name]) => name)), 'edge'];
  const flatNodes = nodes.flatMap(([type, name, size], index) => [
    NODE_TYPES.indexOf(type),
    strings.indexOf(name),
    index + 1,
    size,
    edges.filter(([from]) => from === index).length,
  ]);
  const flatEdges = nodes.flatMap((_, index) =>
    edges.filter(([from]) => from === index).flatMap(([, to, type]) => [EDGE_TYPES.indexOf(type), strings.indexOf('edge'), to * 5]),
  );
  return {
    snapshot: {
      meta: {
        node_fields: ['type', 'name', 'id', 'self_size', 'edge_count'],
        node_types: [NODE_TYPES, 'string', 'number', 'number', 'number'],
        edge_fields: ['type', 'name_or_index', 'to_node'],
        edge_types: [EDGE_TYPES, 'string_or_number', 'node'],
      },
    },
    nodes: flatNodes,
    edges: flatEdges,
    strings,
  };
}

const files: string[] = [];
afterEach(() => {
  for (const file of files.splice(0)) fs.rmSync(file, { force: true });
});

function summarize(nodes: [string, string, number][], edges: [number, number, string][]) {
  const file = path.join(os.tmpdir(), `heap-summary-${process.pid}-${Date.now()}-${files.length}.heapsnapshot`);
  files.push(file);
  fs.writeFileSync(file, JSON.stringify(snapshot(nodes, edges)));
  return summarizeHeapSnapshot(file);
}

const group = (summary: ReturnType<typeof summarize>, name: string) => summary.byRetained.find((g) => g.name === name);

describe('heap snapshot summary', () => {
  it('counts what an object alone keeps alive in its retained size, and what two objects share in neither', () => {
    // root → pool (Map) → a, b (Provider); a → configA (Object); a and b → shared (Object)
    const summary = summarize(
      [
        ['hidden', '(root)', 0],
        ['object', 'Map', 1 * MB],
        ['object', 'Provider', 2 * MB],
        ['object', 'Provider', 2 * MB],
        ['object', 'Object', 4 * MB],
        ['object', 'Object', 8 * MB],
      ],
      [
        [0, 1, 'property'],
        [1, 2, 'element'],
        [1, 3, 'element'],
        [2, 4, 'property'],
        [2, 5, 'property'],
        [3, 5, 'property'],
      ],
    );
    expect(summary.totalMb).toBe(17);
    // the shared Object is dominated by the Map, not by either Provider
    expect(group(summary, 'Provider')).toEqual({ name: 'Provider', count: 2, selfMb: 4, retainedMb: 8 });
    expect(group(summary, 'Map')).toEqual({ name: 'Map', count: 1, selfMb: 1, retainedMb: 17 });
    expect(group(summary, 'Object')).toEqual({ name: 'Object', count: 2, selfMb: 12, retainedMb: 12 });
  });

  it('leaves out what only a weak reference reaches, and counts a group nested in itself once', () => {
    // root → outer (Object) → inner (Object); root ⇢ (weak) cached (Object)
    const summary = summarize(
      [
        ['hidden', '(root)', 0],
        ['object', 'Object', 1 * MB],
        ['object', 'Object', 2 * MB],
        ['object', 'Object', 4 * MB],
      ],
      [
        [0, 1, 'property'],
        [1, 2, 'property'],
        [0, 3, 'weak'],
      ],
    );
    expect(summary.totalMb).toBe(3);
    expect(group(summary, 'Object')).toEqual({ name: 'Object', count: 2, selfMb: 3, retainedMb: 3 });
  });
});
