// The drift check's cost follows change, not pods: instead of an iptables-save in every meshed pod's netns per
// resync, one process (`mizzen-cni fingerprint <backend>`, see cni/fingerprint.go) reads a fingerprint of every
// known netns — nf_tables' ruleset generation, the legacy tables' entry counts and sizes — with a few syscalls
// each. A netns whose fingerprint is the one it had when the agent last found it in sync is not read again; only
// new, changed or unverifiable ones get the iptables-save and diff.
import { spawn } from 'node:child_process';
import type { Backend } from '../iptables/index.js';

/** Fingerprints of network namespaces (agent paths); a netns it could not read is missing from the map. */
export type Fingerprinter = (netns: readonly string[]) => Promise<Map<string, string>>;

/** Parses `path\tfingerprint` lines; `error: ...` lines are left out. Pure. */
export function parseFingerprints(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const i = line.indexOf('\t');
    if (i <= 0) continue;
    const fp = line.slice(i + 1);
    if (fp !== '' && !fp.startsWith('error:')) out.set(line.slice(0, i), fp);
  }
  return out;
}

/** Runs `<exe> fingerprint <backend>` once for all the netns. */
export function processFingerprinter(exe: string, backend: () => Promise<Backend>): Fingerprinter {
  return async (netns) => {
    const b = await backend();
    return new Promise((resolve, reject) => {
      const child = spawn(exe, ['fingerprint', b], { stdio: ['pipe', 'pipe', 'ignore'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve(parseFingerprints(out)) : reject(new Error(`${exe} fingerprint exited ${code}`))));
      child.stdin.on('error', () => undefined);
      child.stdin.end(netns.map((n) => `${n}\n`).join(''));
    });
  };
}

export class DriftProbe {
  private fps = new Map<string, string>();
  private takenAt = -Infinity;
  private running?: Promise<void>;
  private readonly verified = new Map<string, string>();
  /** Fingerprint processes run so far. */
  runs = 0;

  constructor(
    private readonly fingerprint: Fingerprinter,
    /** Every netns worth fingerprinting in one go (the agent's index). */
    private readonly known: () => readonly string[],
    /** How long one round of fingerprints serves (a fraction of the drift interval). */
    private readonly maxAgeMs: number,
  ) {}

  /** The netns's current fingerprint (one process for all known netns per round), or undefined. */
  async current(netns: string): Promise<string | undefined> {
    if (!this.fps.has(netns) || performance.now() - this.takenAt >= this.maxAgeMs) await this.refresh(netns);
    return this.fps.get(netns);
  }

  /** Whether the netns still has the fingerprint it had when last found in sync with the same desired rules. */
  unchanged(netns: string, fp: string | undefined, desired: string): boolean {
    return fp !== undefined && this.verified.get(netns) === `${fp}\n${desired}`;
  }

  /** Records that the netns was in sync with `desired` when it had this fingerprint (taken before reading it). */
  verify(netns: string, fp: string | undefined, desired: string): void {
    if (fp === undefined) this.verified.delete(netns);
    else this.verified.set(netns, `${fp}\n${desired}`);
  }

  forget(netns: string): void {
    this.verified.delete(netns);
  }

  private refresh(netns: string): Promise<void> {
    this.running ??= (async () => {
      const all = [...new Set([...this.known(), netns])];
      this.runs++;
      try {
        this.fps = await this.fingerprint(all);
      } catch {
        this.fps = new Map(); // unreadable: every netns is checked the slow way this round
      }
      this.takenAt = performance.now();
    })().finally(() => (this.running = undefined));
    return this.running;
  }
}
