/**
 * What a pooled Provider costs in memory: the server's own report (after a full GC) before any
 * Provider is built, and again after one token for each of `tenants` (their Providers, client,
 * tenant and key records resident).
 */
import { log } from '../console.ts';
import type { Comparison } from '../measurements.ts';
import type { MemoryReport } from '../protocol.ts';
import type { BenchTenant } from '../servers/ours.ts';
import { round } from '../stats.ts';
import { compare } from '../summary.ts';
import { fetchTokens, type Ours } from './servers.ts';

export interface ProviderMemory {
  readonly before: MemoryReport;
  readonly after: MemoryReport;
  /** Providers in the pool after the tokens */
  readonly providers: number;
  readonly rssPerProviderMb: number | undefined;
  readonly heapPerProviderMb: number | undefined;
}

export async function measureProviderMemory(ours: Ours, tenants: readonly BenchTenant[]): Promise<ProviderMemory> {
  const before = await ours.memory();
  await fetchTokens(ours, tenants);
  const after = await ours.memory();
  const providers = (after.extra.providers ?? 0) - (before.extra.providers ?? 0);
  const per = (a: number, b: number) => (providers > 0 ? round((a - b) / providers, 3) : undefined);
  const memory = {
    before,
    after,
    providers,
    rssPerProviderMb: per(after.rssMb, before.rssMb),
    heapPerProviderMb: per(after.heapUsedMb, before.heapUsedMb),
  };
  log(
    `  memory   before: rss ${before.rssMb} MB heap ${before.heapUsedMb} MB; with ${after.extra.providers} Providers: rss ${after.rssMb} MB ` +
      `heap ${after.heapUsedMb} MB; per Provider: rss ${memory.rssPerProviderMb} MB heap ${memory.heapPerProviderMb} MB`,
  );
  return memory;
}

export function memoryComparisons(memory: ProviderMemory, rssUnderLoadMb: number | undefined): Comparison[] {
  return [
    compare('RSS per pooled Provider (MiB, after GC)', memory.rssPerProviderMb, '<= 0.25'),
    compare('heap per pooled Provider (MiB, after GC)', memory.heapPerProviderMb),
    compare(`RSS with ${memory.providers} Providers pooled (MiB, after GC)`, memory.after.rssMb, '<= 400'),
    compare(`RSS with ${memory.providers} Providers pooled (MiB, under load, max)`, rssUnderLoadMb, '<= 400'),
    compare('RSS before any Provider (MiB, after GC)', memory.before.rssMb),
  ];
}

export function memoryNotes(memory: ProviderMemory): string[] {
  const { before, after } = memory;
  return [
    `Memory as the server reports it (process.memoryUsage() after a full GC, asked over IPC): before any Provider rss ${before.rssMb} MiB, ` +
      `heap used ${before.heapUsedMb} MiB, external ${before.externalMb} MiB; after one token for each of ${memory.providers} tenants ` +
      `(${after.extra.providers} Providers pooled) rss ${after.rssMb} MiB, heap used ${after.heapUsedMb} MiB, external ${after.externalMb} MiB. ` +
      'Per Provider = the difference / Providers built; it includes the tenant, client and key records cached with it.',
  ];
}
