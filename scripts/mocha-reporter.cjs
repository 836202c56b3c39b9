// Mocha reporter for scripts/test: the spec reporter's output, plus the run's counts appended as one JSON
// line to $MIZZEN_TEST_STATS so scripts/test can print a single "N passed, N failed" line for all suites.
// At the end it prints how long each top-level suite took (its hooks included), longest first, with the load
// average: what each suite costs CI.
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const Mocha = require('mocha');

class StatsReporter extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    const started = new Map();
    const durations = [];
    runner.on(Mocha.Runner.constants.EVENT_SUITE_BEGIN, (suite) => {
      if (suite.parent && suite.parent.root) started.set(suite, Date.now());
    });
    runner.on(Mocha.Runner.constants.EVENT_SUITE_END, (suite) => {
      const t0 = started.get(suite);
      if (t0 !== undefined) durations.push([suite.title, Date.now() - t0]);
    });
    runner.once(Mocha.Runner.constants.EVENT_RUN_END, () => {
      if (durations.length > 1) {
        const lines = durations.sort((a, b) => b[1] - a[1]).map(([title, ms]) => `  ${(ms / 1000).toFixed(1).padStart(7)} s  ${title}`);
        process.stdout.write(`\nSuite durations (load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}):\n${lines.join('\n')}\n`);
      }
      const file = process.env.MIZZEN_TEST_STATS;
      if (!file) return;
      const { passes, failures, pending } = runner.stats;
      fs.appendFileSync(file, JSON.stringify({ suite: process.env.MIZZEN_TEST_SUITE || 'mocha', passes, failures, pending }) + '\n');
    });
  }
}

module.exports = StatsReporter;
