/**
 * What a server's V8 heap holds: a heap snapshot (v8.writeHeapSnapshot, asked over IPC) summarised
 * by constructor, with each group's own size and the size it retains (what would be freed with it:
 * from the dominator tree, as Chrome DevTools' "Retained size"), for RESULTS.md. Counts only the
 * V8 heap: malloc'd memory outside it (OpenSSL keys, the compilers' zones, buffers) is not in it.
 */
import fs from 'node:fs';

interface HeapSnapshot {
  readonly snapshot: {
    readonly meta: {
      readonly node_fields: string[];
      readonly node_types: [string[], ...unknown[]];
      readonly edge_fields: string[];
      readonly edge_types: [string[], ...unknown[]];
    };
  };
  readonly nodes: number[];
  readonly edges: number[];
  readonly strings: string[];
}

export interface HeapGroup {
  /** a constructor's name, or a kind of V8 object in parentheses, as DevTools names them */
  readonly name: string;
  readonly count: number;
  readonly selfMb: number;
  /** what the group's outermost objects retain (a group nested in another is counted in both) */
  readonly retainedMb: number;
}

export interface HeapSummary {
  readonly totalMb: number;
  readonly nodes: number;
  /** the largest groups by retained size */
  readonly byRetained: HeapGroup[];
  /** the largest groups by own size */
  readonly bySelf: HeapGroup[];
}

const MB = 1024 * 1024;
const mb = (bytes: number) => Math.round((bytes / MB) * 10) / 10;

/** DevTools' grouping: objects by constructor, everything else by its kind. */
function groupName(type: string, name: string): string {
  switch (type) {
    case 'object':
    case 'native':
      return name;
    case 'closure':
      return '(closure)';
    case 'string':
    case 'concatenated string':
    case 'sliced string':
      return '(string)';
    case 'code':
      return '(compiled code)';
    case 'array':
      return '(array)';
    case 'hidden':
    case 'object shape':
      return '(system)';
    default:
      return `(${type})`;
  }
}

/**
 * Immediate dominators by Cooper, Harvey and Kennedy's iterative algorithm over a reverse
 * post-order from the root (node 0), weak edges left out as DevTools leaves them out.
 */
function dominators(nodeCount: number, firstEdge: Uint32Array, targets: Uint32Array, weak: Uint8Array): Int32Array {
  const order = new Int32Array(nodeCount).fill(-1); // post-order number of each node
  const postOrder = new Uint32Array(nodeCount);
  let visited = 0;
  // iterative DFS: a stack of (node, next edge)
  const stackNode = new Uint32Array(nodeCount);
  const stackEdge = new Uint32Array(nodeCount);
  const seen = new Uint8Array(nodeCount);
  let top = 0;
  stackNode[0] = 0;
  stackEdge[0] = firstEdge[0] as number;
  seen[0] = 1;
  while (top >= 0) {
    const node = stackNode[top] as number;
    const edge = stackEdge[top] as number;
    if (edge < (firstEdge[node + 1] as number)) {
      stackEdge[top] = edge + 1;
      const to = targets[edge] as number;
      if (!weak[edge] && !seen[to]) {
        seen[to] = 1;
        top++;
        stackNode[top] = to;
        stackEdge[top] = firstEdge[to] as number;
      }
    } else {
      order[node] = visited;
      postOrder[visited++] = node;
      top--;
    }
  }
  // predecessors of each reachable node
  const predecessorCount = new Uint32Array(nodeCount + 1);
  for (let node = 0; node < nodeCount; node++) {
    if (order[node] === -1) continue;
    for (let e = firstEdge[node] as number; e < (firstEdge[node + 1] as number); e++)
      if (!weak[e]) {
        const slot = (targets[e] as number) + 1;
        predecessorCount[slot] = (predecessorCount[slot] as number) + 1;
      }
  }
  for (let i = 1; i <= nodeCount; i++) predecessorCount[i] = (predecessorCount[i] as number) + (predecessorCount[i - 1] as number);
  const predecessors = new Uint32Array(predecessorCount[nodeCount] as number);
  const fill = predecessorCount.slice(0, nodeCount);
  for (let node = 0; node < nodeCount; node++) {
    if (order[node] === -1) continue;
    for (let e = firstEdge[node] as number; e < (firstEdge[node + 1] as number); e++) {
      if (weak[e]) continue;
      const to = targets[e] as number;
      const at = fill[to] as number;
      predecessors[at] = node;
      fill[to] = at + 1;
    }
  }
  const idom = new Int32Array(nodeCount).fill(-1);
  idom[0] = 0;
  const intersect = (a: number, b: number) => {
    while (a !== b) {
      while ((order[a] as number) < (order[b] as number)) a = idom[a] as number;
      while ((order[b] as number) < (order[a] as number)) b = idom[b] as number;
    }
    return a;
  };
  for (let changed = true; changed;) {
    changed = false;
    for (let i = visited - 2; i >= 0; i--) {
      const node = postOrder[i] as number;
      let dominator = -1;
      for (let p = predecessorCount[node] as number; p < (predecessorCount[node + 1] as number); p++) {
        const predecessor = predecessors[p] as number;
        if (idom[predecessor] === -1) continue;
        dominator = dominator === -1 ? predecessor : intersect(predecessor, dominator);
      }
      if (dominator !== -1 && idom[node] !== dominator) {
        idom[node] = dominator;
        changed = true;
      }
    }
  }
  return idom;
}

export function summarizeHeapSnapshot(file: string, top = 12): HeapSummary {
  const snapshot = JSON.parse(fs.readFileSync(file, 'utf8')) as HeapSnapshot;
  const { meta } = snapshot.snapshot;
  const nodeFields = meta.node_fields.length;
  const edgeFields = meta.edge_fields.length;
  const [nodeTypes] = meta.node_types;
  const [edgeTypes] = meta.edge_types;
  const typeAt = meta.node_fields.indexOf('type');
  const nameAt = meta.node_fields.indexOf('name');
  const sizeAt = meta.node_fields.indexOf('self_size');
  const edgeCountAt = meta.node_fields.indexOf('edge_count');
  const edgeTypeAt = meta.edge_fields.indexOf('type');
  const toAt = meta.edge_fields.indexOf('to_node');
  const weakType = edgeTypes.indexOf('weak');
  const { nodes, edges, strings } = snapshot;
  const nodeCount = nodes.length / nodeFields;
  const edgeCount = edges.length / edgeFields;

  const firstEdge = new Uint32Array(nodeCount + 1);
  const selfSize = new Float64Array(nodeCount);
  const group = new Array<string>(nodeCount);
  for (let n = 0, e = 0; n < nodeCount; n++) {
    firstEdge[n] = e;
    e += nodes[n * nodeFields + edgeCountAt] as number;
    selfSize[n] = nodes[n * nodeFields + sizeAt] as number;
    group[n] = groupName(
      nodeTypes[nodes[n * nodeFields + typeAt] as number] ?? '?',
      strings[nodes[n * nodeFields + nameAt] as number] ?? '?',
    );
  }
  firstEdge[nodeCount] = edgeCount;
  const targets = new Uint32Array(edgeCount);
  const weak = new Uint8Array(edgeCount);
  for (let e = 0; e < edgeCount; e++) {
    targets[e] = (edges[e * edgeFields + toAt] as number) / nodeFields;
    weak[e] = edges[e * edgeFields + edgeTypeAt] === weakType ? 1 : 0;
  }

  const idom = dominators(nodeCount, firstEdge, targets, weak);
  // retained = own size + what each node dominates: children before parents (deepest first)
  const depth = new Uint32Array(nodeCount);
  const byDepth: number[] = [];
  for (let n = 1; n < nodeCount; n++) if (idom[n] !== -1) byDepth.push(n);
  const depthOf = (n: number): number => {
    if (n === 0 || depth[n]) return depth[n] as number;
    const chain: number[] = [];
    let at = n;
    while (at !== 0 && !depth[at]) {
      chain.push(at);
      at = idom[at] as number;
    }
    let d = depth[at] as number;
    for (let i = chain.length - 1; i >= 0; i--) depth[chain[i] as number] = ++d;
    return depth[n] as number;
  };
  for (const n of byDepth) depthOf(n);
  byDepth.sort((a, b) => (depth[b] as number) - (depth[a] as number));
  const retained = Float64Array.from(selfSize);
  for (const n of byDepth) retained[idom[n] as number] = (retained[idom[n] as number] as number) + (retained[n] as number);

  const groups = new Map<string, { count: number; self: number; retained: number }>();
  let total = 0;
  for (let n = 1; n < nodeCount; n++) {
    if (idom[n] === -1) continue;
    total += selfSize[n] as number;
    const name = group[n] as string;
    const g = groups.get(name) ?? { count: 0, self: 0, retained: 0 };
    g.count++;
    g.self += selfSize[n] as number;
    // the outermost of its group: no dominator of the same group above it (up to the root)
    let outer = true;
    for (let at = idom[n] as number; at !== 0; at = idom[at] as number) {
      if (group[at] === name) {
        outer = false;
        break;
      }
    }
    if (outer) g.retained += retained[n] as number;
    groups.set(name, g);
  }
  const all = [...groups].map(([name, g]) => ({ name, count: g.count, selfMb: mb(g.self), retainedMb: mb(g.retained) }));
  return {
    totalMb: mb(total),
    nodes: nodeCount,
    byRetained: [...all].sort((a, b) => b.retainedMb - a.retainedMb).slice(0, top),
    bySelf: [...all].sort((a, b) => b.selfMb - a.selfMb).slice(0, top),
  };
}

export function describeHeapGroups(groups: readonly HeapGroup[], size: 'retainedMb' | 'selfMb'): string {
  return groups.map((g) => `${g.name} ${g[size]} MiB (${g.count})`).join('; ');
}
