// Prints the suite's closing lines in the plain form CI tools read: the ten slowest test files
// ("slowest: 142.1 s apps/cli/test/cli.e2e-spec.ts, …"), then "tests: N passed, N failed".
import { relative } from 'node:path';

export default class SummaryReporter {
  constructor(globalConfig) {
    this.rootDir = globalConfig?.rootDir ?? process.cwd();
  }

  onRunComplete(_contexts, results) {
    const files = results.testResults
      .map((r) => ({ path: relative(this.rootDir, r.testFilePath), ms: r.perfStats?.runtime ?? (r.perfStats?.end ?? 0) - (r.perfStats?.start ?? 0) }))
      .filter((f) => Number.isFinite(f.ms) && f.ms > 0)
      .sort((a, b) => b.ms - a.ms)
      .slice(0, 10);
    if (files.length > 0) process.stdout.write(`\nslowest: ${files.map((f) => `${(f.ms / 1000).toFixed(1)} s ${f.path}`).join(', ')}`);
    const skipped = results.numPendingTests + results.numTodoTests;
    process.stdout.write(`\ntests: ${results.numPassedTests} passed, ${results.numFailedTests} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
  }
}
