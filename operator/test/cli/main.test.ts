import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { buildProgram, SUBCOMMANDS } from '../../src/cli/main.js';

const exec = promisify(execFile);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

// Registered in the child process: writes every module URL it resolves to $MIZZEN_LOADED_LOG.
const hook = `
import { register } from 'node:module';
import { appendFileSync } from 'node:fs';
register('data:text/javascript,' + encodeURIComponent(\`
  import { appendFileSync } from 'node:fs';
  export async function resolve(spec, ctx, next) {
    const r = await next(spec, ctx);
    appendFileSync(process.env.MIZZEN_LOADED_LOG, r.url + '\\\\n');
    return r;
  }\`));
`;

/** Runs the CLI from its sources (through tsx) with ARGS and returns the module URLs it resolved. */
async function modulesLoadedBy(args: string[]): Promise<string[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mizzen-cli-'));
  const log = path.join(dir, 'loaded');
  try {
    fs.writeFileSync(log, '');
    await exec(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(hook)}`, '--import', 'tsx', path.join(root, 'operator/src/cli/run.ts'), ...args], {
      cwd: root,
      env: { ...process.env, MIZZEN_LOADED_LOG: log },
    });
    return fs.readFileSync(log, 'utf8').split('\n').filter(Boolean);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe('cli: subcommands are imported only when they run', function () {
  this.timeout(120_000);

  it('the help listing of each subcommand is its own module\'s description, and no subcommand is missing', async () => {
    const full = await buildProgram();
    const listed = await buildProgram(['node', 'mizzen', '--help']);
    const names = (p: typeof full): string[] => p.commands.map((c) => c.name());
    expect(names(listed)).to.deep.equal(names(full));
    for (const sub of SUBCOMMANDS) {
      expect(full.commands.find((c) => c.name() === sub.name)?.description(), sub.name).to.equal(sub.description);
    }
  });

  it('`mizzen version` loads no subcommand module, no Kubernetes client, no renderer', async () => {
    const loaded = await modulesLoadedBy(['version']);
    expect(loaded.some((u) => u.endsWith('/cli/main.ts')), 'main.ts was loaded').to.equal(true);
    for (const heavy of ['/cli/operator.', '/cli/manifest.', '/cli/tag.', '/cli/agent.', '/cli/iptables.', '@kubernetes/client-node', '/src/render/', '/controllers/']) {
      expect(loaded.filter((u) => u.includes(heavy)), heavy).to.deep.equal([]);
    }
  });

  it('`mizzen tag --help` loads the tag module and not the operator\'s or the agent\'s', async () => {
    const loaded = await modulesLoadedBy(['tag', '--help']);
    expect(loaded.some((u) => u.endsWith('/cli/tag.ts'))).to.equal(true);
    for (const other of ['/cli/operator.', '/cli/agent.', '/controllers/', '/src/agent/']) {
      expect(loaded.filter((u) => u.includes(other)), other).to.deep.equal([]);
    }
  });
});
