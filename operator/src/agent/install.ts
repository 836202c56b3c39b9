// install-cni: copies the mizzen-cni executable into cniBinDir, chains it at the end of the primary CNI's network
// configuration in cniConfDir, keeps it there (fs.watch on the directory plus a periodic check, so a primary
// CNI that rewrites its file gets our entry back within a second) and removes exactly our entry on uninstall.
// The file edits themselves are pure (conflist.ts); every write is a rename of a complete temporary file, so a
// runtime never reads a half-written configuration.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { createHash } from 'node:crypto';
import type { Logger } from '../util/log.js';
import { type ConfFile, type JsonObject, isConfFileName, pickConfFile, planInsert, planRemove } from './conflist.js';
import { PLUGIN_TYPE } from './protocol.js';

export interface InstallOptions {
  /** The built plugin executable to install (dist/mizzen-cni). */
  readonly pluginSource: string;
  readonly cniBinDir: string;
  readonly cniConfDir: string;
  /** values.cni.cniConfFileName; empty: the first valid file by name. */
  readonly confFileName: string;
  /** Our conflist entry. */
  readonly entry: JsonObject;
  /** The periodic check behind fs.watch. */
  readonly checkIntervalMs: number;
  readonly log: Logger;
  /** Called after every insert (metrics). */
  readonly onInsert?: () => void;
}

export type EnsureOutcome = { readonly state: 'inserted' | 'unchanged'; readonly file: string } | { readonly state: 'waiting'; readonly reason: string };

async function sha256(file: string): Promise<string | undefined> {
  try {
    return createHash('sha256')
      .update(await fsp.readFile(file))
      .digest('hex');
  } catch {
    return undefined;
  }
}

/** Writes a file by renaming a complete temporary file over it (hidden name: runtimes skip dotfiles). */
export async function writeAtomic(file: string, content: string | Buffer, mode = 0o644): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.mizzen-${process.pid}.tmp`);
  await fsp.writeFile(tmp, content, { mode });
  await fsp.chmod(tmp, mode);
  await fsp.rename(tmp, file);
}

async function readConfFiles(dir: string): Promise<ConfFile[]> {
  const names = (await fsp.readdir(dir)).filter(isConfFileName);
  const files: ConfFile[] = [];
  for (const name of names) {
    try {
      files.push({ name, content: await fsp.readFile(path.join(dir, name), 'utf8') });
    } catch {
      // removed between readdir and read: the next event will see the new state
    }
  }
  return files;
}

export class CniInstaller {
  private watcher?: fs.FSWatcher;
  private timer?: ReturnType<typeof setInterval>;
  private debounce?: ReturnType<typeof setTimeout>;
  private running: Promise<EnsureOutcome> | undefined;
  private rerun = false;
  private stopped = false;
  private lastState = '';
  /** Inserts performed (the first install included), for metrics and tests. */
  inserts = 0;

  constructor(private readonly opts: InstallOptions) {}

  get pluginPath(): string {
    return path.join(this.opts.cniBinDir, PLUGIN_TYPE);
  }

  /** Copies the plugin if it differs from what is installed. Returns whether it copied. */
  async installBinary(): Promise<boolean> {
    await fsp.mkdir(this.opts.cniBinDir, { recursive: true });
    const want = await sha256(this.opts.pluginSource);
    if (want === undefined) throw new Error(`The CNI plugin executable ${this.opts.pluginSource} is missing (build it with scripts/build-cni)`);
    if ((await sha256(this.pluginPath)) === want) return false;
    // A rename, not an overwrite: a runtime may be executing the old binary right now (ETXTBSY).
    await writeAtomic(this.pluginPath, await fsp.readFile(this.opts.pluginSource), 0o755);
    this.opts.log.info('Installed CNI plugin', { path: this.pluginPath });
    return true;
  }

  /** One pass: pick the primary file and make our entry its last plugin. */
  ensure(): Promise<EnsureOutcome> {
    if (this.running) {
      this.rerun = true;
      return this.running;
    }
    const run = async (): Promise<EnsureOutcome> => {
      let outcome: EnsureOutcome;
      do {
        this.rerun = false;
        outcome = await this.ensureOnce();
      } while (this.rerun && !this.stopped);
      return outcome;
    };
    this.running = run().finally(() => (this.running = undefined));
    return this.running;
  }

  private async ensureOnce(): Promise<EnsureOutcome> {
    const dir = this.opts.cniConfDir;
    await fsp.mkdir(dir, { recursive: true });
    const picked = pickConfFile(await readConfFiles(dir), this.opts.confFileName);
    if (picked.file === undefined) {
      this.report(`waiting:${picked.reason}`, () => this.opts.log.info('Found no primary CNI configuration yet; waiting', { dir, reason: picked.reason }));
      return { state: 'waiting', reason: picked.reason };
    }
    const plan = planInsert(picked.file, this.opts.entry);
    if (plan === undefined) {
      this.report(`ok:${picked.file.name}`, () => undefined);
      return { state: 'unchanged', file: picked.file.name };
    }
    await writeAtomic(path.join(dir, plan.name), plan.content);
    if (plan.remove !== undefined) await fsp.rm(path.join(dir, plan.remove), { force: true });
    this.inserts++;
    this.opts.onInsert?.();
    this.report(`ok:${plan.name}`, () => undefined);
    this.opts.log.info('Inserted mizzen-cni into the CNI configuration', { file: path.join(dir, plan.name), ...(plan.remove ? { replaced: plan.remove } : {}) });
    return { state: 'inserted', file: plan.name };
  }

  private report(state: string, log: () => void): void {
    if (state !== this.lastState) log();
    this.lastState = state;
  }

  /**
   * Installs the binary, starts watching and resolves once our entry is in the primary configuration (waiting
   * for the primary CNI to write one, as the agent must not report ready before).
   */
  async install(): Promise<string> {
    await this.installBinary();
    this.watch();
    for (;;) {
      if (this.stopped) throw new Error('install-cni stopped before the CNI configuration appeared');
      const outcome = await this.ensure();
      if (outcome.state !== 'waiting') return outcome.file;
      await new Promise((r) => setTimeout(r, Math.min(this.opts.checkIntervalMs, 500)));
    }
  }

  private schedule(): void {
    if (this.stopped || this.debounce) return;
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      void this.ensure().catch((err: unknown) => this.opts.log.warn('Could not update the CNI configuration', { error: (err as Error).message }));
    }, 20);
  }

  private watch(): void {
    this.startWatcher();
    this.timer = setInterval(() => {
      if (!this.watcher) this.startWatcher();
      this.schedule();
    }, this.opts.checkIntervalMs);
    this.timer.unref();
  }

  private startWatcher(): void {
    try {
      const w = fs.watch(this.opts.cniConfDir, { persistent: false }, () => this.schedule());
      w.on('error', () => {
        w.close();
        if (this.watcher === w) this.watcher = undefined;
      });
      this.watcher = w;
    } catch {
      this.watcher = undefined; // the directory is missing: the periodic check recreates it and retries
    }
  }

  private stopWatching(): void {
    this.stopped = true;
    this.watcher?.close();
    this.watcher = undefined;
    if (this.timer) clearInterval(this.timer);
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = undefined;
  }

  /** Stops watching, removes our entry from every configuration that has one, and removes the binary. */
  async uninstall(): Promise<string[]> {
    this.stopWatching();
    await this.running?.catch(() => undefined);
    const changed: string[] = [];
    const files = await readConfFiles(this.opts.cniConfDir).catch((): ConfFile[] => []);
    for (const f of files) {
      const content = planRemove(f);
      if (content === undefined) continue;
      await writeAtomic(path.join(this.opts.cniConfDir, f.name), content);
      changed.push(f.name);
    }
    await fsp.rm(this.pluginPath, { force: true });
    this.opts.log.info('Removed mizzen-cni from the CNI configuration', { files: changed, plugin: this.pluginPath });
    return changed;
  }

  /** Stops watching without touching anything (tests). */
  stop(): void {
    this.stopWatching();
  }
}
