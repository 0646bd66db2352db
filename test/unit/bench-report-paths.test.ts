import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { ScenarioResult } from '../../bench/measurements.ts';
import { latestResults, renderReport, reportPaths, resultFile } from '../../bench/report.ts';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const relative = (url: URL) => path.relative(repo, fileURLToPath(url));

/** exit 0: ignored; exit 1: not ignored (--no-index: whether or not the file exists or is tracked) */
function gitIgnores(file: string): boolean {
  try {
    execFileSync('git', ['check-ignore', '--quiet', '--no-index', file], { cwd: repo, stdio: 'ignore' });
    return true;
  } catch (error) {
    if ((error as { status?: number }).status === 1) return false;
    throw error;
  }
}

describe('where a benchmark run writes', () => {
  it('a full run writes tracked files: bench/results/<date>-<scenario>.json and bench/RESULTS.md', () => {
    const paths = reportPaths(false);
    const files = [relative(resultFile(paths, '2026-11-29', 'api-list')), relative(paths.reportFile)];
    expect(files).toEqual(['bench/results/2026-11-29-api-list.json', 'bench/RESULTS.md']);
    expect(files.map(gitIgnores)).toEqual([false, false]);
  });

  it('a quick run writes only under bench/results/quick/, which git ignores', () => {
    const paths = reportPaths(true);
    const files = [relative(resultFile(paths, '2026-11-29', 'api-list')), relative(paths.reportFile)];
    expect(files).toEqual(['bench/results/quick/2026-11-29-api-list.json', 'bench/results/quick/RESULTS.md']);
    expect(files.map(gitIgnores)).toEqual([true, true]);
  });

  it('the full report is built from the full results only, never from the quick ones below them', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-report-paths-'));
    try {
      const full = { resultsDir: new URL(`file://${dir}/`), reportFile: new URL(`file://${dir}/RESULTS.md`) };
      const quick = { resultsDir: new URL(`file://${dir}/quick/`), reportFile: new URL(`file://${dir}/quick/RESULTS.md`) };
      fs.mkdirSync(quick.resultsDir);
      const result = (finishedAt: string, isQuick: boolean) => ({ scenario: 'api-list', finishedAt, quick: isQuick });
      fs.writeFileSync(resultFile(full, '2026-11-28', 'api-list'), JSON.stringify(result('2026-11-28T10:00:00Z', false)));
      fs.writeFileSync(resultFile(quick, '2026-11-29', 'api-list'), JSON.stringify(result('2026-11-29T10:00:00Z', true)));
      expect(latestResults(full, ['api-list']).map((r) => r.quick)).toEqual([false]);
      expect(latestResults(quick, ['api-list']).map((r) => r.quick)).toEqual([true]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the quick report says it is a smoke test and where the measured results are', () => {
    const none: ScenarioResult[] = [];
    expect(renderReport(none, { quick: true })).toMatch(/^# Quick benchmark results\n[\s\S]*not a measurement[\s\S]*`bench\/RESULTS\.md`/);
    expect(renderReport(none, { quick: false })).toMatch(/^# Benchmark results\n/);
  });
});
