// install-cni: copies the mizzen-cni executable into cniBinDir, chains it at the end of the primary CNI's network
// configuration in cniConfDir, keeps it there (fs.watch on the directory plus a periodic check, so a primary
// CNI that rewrites its file gets our entry back within a second) and removes exactly our entry on uninstall.
// Before each insert the primary CNI's file is kept as it was (`.<name>.mizzen-original` next to it: hidden, and
// an extension no runtime loads), so uninstall writes those bytes back — formatting, key order and a `.conf` we
// wrapped included — unless the primary CNI changed the file since, when only our entry is taken out.
// The file edits themselves are pure (conflist.ts); every write is a rename of a complete temporary file, so a
// runtime never reads a half-written configuration, and keeps the file's mode.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { createHash } from 'node:crypto';
import type { Logger } from '../util/log.js';
import { type ConfFile, type JsonObject, isConfFileName, isOriginalOf, pickConfFile, planInsert, planRemove } from './conflist.js';
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
  /**
   * How long uninstall keeps the binary after our entry is gone: a runtime that read the configuration just before
   * runs the chain's earlier plugins first, then looks for ours (none: "failed to find plugin"). Default 0.
   */
  readonly binaryGraceMs?: number;
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

const ORIGINAL_SUFFIX = '.mizzen-original';

/** Where the primary CNI's file `name` is kept as it was before our insert. */
export function originalPath(dir: string, name: string): string {
  return path.join(dir, `.${name}${ORIGINAL_SUFFIX}`);
}

async function fileMode(file: string): Promise<number> {
  try {
    return (await fsp.stat(file)).mode & 0o7777;
  } catch {
    return 0o644;
  }
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
    await this.keepOriginal(picked.file);
    await writeAtomic(path.join(dir, plan.name), plan.content, await fileMode(path.join(dir, picked.file.name)));
    if (plan.remove !== undefined) await fsp.rm(path.join(dir, plan.remove), { force: true });
    this.inserts++;
    this.opts.onInsert?.();
    this.report(`ok:${plan.name}`, () => undefined);
    this.opts.log.info('Inserted mizzen-cni into the CNI configuration', { file: path.join(dir, plan.name), ...(plan.remove ? { replaced: plan.remove } : {}) });
    return { state: 'inserted', file: plan.name };
  }

  /**
   * Keeps the primary CNI's file as it is now when it has no entry of ours (its own content). One that has (an
   * earlier agent's insert) keeps the copy made then if that copy is still what it was; a stale copy goes.
   */
  private async keepOriginal(file: ConfFile): Promise<void> {
    const dir = this.opts.cniConfDir;
    if (planRemove(file) === undefined) {
      await writeAtomic(originalPath(dir, file.name), file.content, 0o600);
      return;
    }
    if ((await this.originalOf(file)) === undefined) {
      for (const name of twinNames(file.name)) await fsp.rm(originalPath(dir, name), { force: true });
    }
  }

  /** The kept original that `current` is, plus our entry (under its name or, for a wrapped `.conf`, that name). */
  private async originalOf(current: ConfFile): Promise<ConfFile | undefined> {
    for (const name of twinNames(current.name)) {
      let content: string;
      try {
        content = await fsp.readFile(originalPath(this.opts.cniConfDir, name), 'utf8');
      } catch {
        continue;
      }
      const original = { name, content };
      if (isOriginalOf(original, current)) return original;
    }
    return undefined;
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

  /**
   * Stops watching, removes our entry from every configuration that has one — by writing back the primary CNI's
   * own bytes when nothing else changed since our insert — drops the kept originals, and removes the binary
   * (binaryGraceMs later, while the agent still answers, so an ADD already past the configuration finds it).
   * Returns the files written.
   */
  async uninstall(): Promise<string[]> {
    this.stopWatching();
    await this.running?.catch(() => undefined);
    const dir = this.opts.cniConfDir;
    const changed: string[] = [];
    const files = await readConfFiles(dir).catch((): ConfFile[] => []);
    for (const f of files) {
      const content = planRemove(f);
      if (content === undefined) continue;
      const mode = await fileMode(path.join(dir, f.name));
      const original = await this.originalOf(f);
      if (original === undefined) {
        await writeAtomic(path.join(dir, f.name), content, mode);
        changed.push(f.name);
        continue;
      }
      // A wrapped `.conf` comes back first, then its `.conflist` goes (`.conf` sorts first for a runtime meanwhile).
      await writeAtomic(path.join(dir, original.name), original.content, mode);
      if (original.name !== f.name) await fsp.rm(path.join(dir, f.name), { force: true });
      changed.push(original.name);
    }
    const names = await fsp.readdir(dir).catch((): string[] => []);
    for (const n of names) if (n.startsWith('.') && n.endsWith(ORIGINAL_SUFFIX)) await fsp.rm(path.join(dir, n), { force: true });
    const grace = this.opts.binaryGraceMs ?? 0;
    if (grace > 0 && changed.length > 0) await new Promise((r) => setTimeout(r, grace));
    await fsp.rm(this.pluginPath, { force: true });
    this.opts.log.info('Removed mizzen-cni from the CNI configuration', { files: changed, plugin: this.pluginPath });
    return changed;
  }

  /**
   * Stops watching and leaves our entry and binary where they are (a restart of the agent: pods that start
   * meanwhile fail their ADD with "try again" until the next agent answers, instead of starting without rules).
   */
  async leaveInPlace(): Promise<void> {
    this.stopWatching();
    await this.running?.catch(() => undefined);
    this.opts.log.info('Left mizzen-cni in the CNI configuration for the next agent', { dir: this.opts.cniConfDir, plugin: this.pluginPath });
  }

  /** Stops watching without touching anything (tests). */
  stop(): void {
    this.stopWatching();
  }
}

/** A file's own name and, for a `.conflist`, the `.conf` it may have been wrapped from. */
function twinNames(name: string): string[] {
  return name.endsWith('.conflist') ? [name, name.slice(0, -'list'.length)] : [name];
}
