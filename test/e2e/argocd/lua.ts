// Runs an Argo CD health check (Lua) on an object the way Argo CD does: the object is the global `obj` (JSON
// null fields absent, arrays 1-based) and the script returns {status, message}. Argo CD runs Lua 5.1 (gopher-lua);
// the tests use Debian's lua5.1 (installed by scripts/setup).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const exec = promisify(execFile);

export interface Health {
  status: string;
  message: string;
}

/** A JSON value as a Lua 5.1 table constructor. */
export function toLua(v: unknown): string {
  if (v === null || v === undefined) return 'nil';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : 'nil';
  if (typeof v === 'string') return `"${v.replace(/[\\"]/g, (c) => `\\${c}`).replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\0/g, '\\0')}"`;
  if (Array.isArray(v)) return `{${v.map(toLua).join(', ')}}`;
  const fields = Object.entries(v as Record<string, unknown>)
    .filter(([, x]) => x !== null && x !== undefined)
    .map(([k, x]) => `[${toLua(k)}] = ${toLua(x)}`);
  return `{${fields.join(', ')}}`;
}

const HARNESS = `
local script = assert(loadstring(io.open(os.getenv("HEALTH_SCRIPT")):read("*a")))
obj = assert(loadstring("return " .. io.read("*a")))()
local hs = script()
io.write(tostring(hs.status), "\\n", tostring(hs.message))
`;

/** Evaluates the health script in file `script` against `obj` with lua5.1. */
export async function health(script: string, obj: unknown): Promise<Health> {
  const child = exec('lua5.1', ['-e', HARNESS], { timeout: 10_000, env: { ...process.env, HEALTH_SCRIPT: script } });
  child.child.stdin?.end(toLua(obj));
  const { stdout } = await child;
  const i = stdout.indexOf('\n');
  return { status: stdout.slice(0, i), message: stdout.slice(i + 1) };
}
