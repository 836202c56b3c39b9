// Mocha reporter for scripts/test: the spec reporter's output, plus the run's counts appended as one JSON
// line to $MIZZEN_TEST_STATS so scripts/test can print a single "N passed, N failed" line for all suites.
'use strict';
const fs = require('node:fs');
const Mocha = require('mocha');

class StatsReporter extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    runner.once(Mocha.Runner.constants.EVENT_RUN_END, () => {
      const file = process.env.MIZZEN_TEST_STATS;
      if (!file) return;
      const { passes, failures, pending } = runner.stats;
      fs.appendFileSync(file, JSON.stringify({ suite: process.env.MIZZEN_TEST_SUITE || 'mocha', passes, failures, pending }) + '\n');
    });
  }
}

module.exports = StatsReporter;
