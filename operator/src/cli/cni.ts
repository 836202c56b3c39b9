// The mizzen-cni executable's entry: stdin and the CNI_* environment in, the CNI result or error out.
// scripts/build-cni bundles this file into one CommonJS file and a Node single-executable application (no
// Node.js needed on the host); bin/mizzen-cni runs it from a checkout through tsx.
import { readFileSync } from 'node:fs';
import { cniEnvironment } from '../config/cni.js';
import { runPlugin } from '../agent/plugin.js';
import { callAgent } from '../agent/socket.js';

function readStdin(): string {
  try {
    return readFileSync(0, 'utf8');
  } catch {
    return '';
  }
}

async function main(): Promise<number> {
  const out = await runPlugin(cniEnvironment(), readStdin(), callAgent);
  if (out.stderr) process.stderr.write(out.stderr);
  await new Promise<void>((resolve) => process.stdout.write(out.stdout, () => resolve()));
  return out.exitCode;
}

void main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stdout.write(`${JSON.stringify({ cniVersion: '1.1.0', code: 101, msg: `mizzen-cni crashed: ${String(err)}` })}\n`);
    process.exitCode = 1;
  },
);
