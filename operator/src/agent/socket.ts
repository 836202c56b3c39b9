// The agent's end of the unix socket that mizzen-cni talks to: one exchange per connection (protocol.ts). The
// first line is the plugin's request; while answering it the handler may send the plugin programs to run in
// the pod's netns (PluginPeer) and read their results; the last line is the answer.
import net from 'node:net';
import fs from 'node:fs';
import path from 'node:path';
import { type AgentProgram, type AgentResponse, type PluginRequest, type ProgramStep, type StepResult, CNI_ERROR, reportProblem, requestProblem } from './protocol.js';

const MAX_LINE = 1 << 20;
/** How long the agent waits for the results of a program (the plugin's own default timeout is 30 s). */
const DEFAULT_PEER_TIMEOUT_MS = 60_000;

/** The plugin on the other end of a connection, which runs programs in the pod's netns for the agent. */
export interface PluginPeer {
  /** Has the plugin run the steps; rejects when the plugin is gone, silent or answers nonsense. */
  run(steps: readonly ProgramStep[], decision?: AgentProgram['decision']): Promise<StepResult[]>;
}

/** Handles one request; `peer` is there when the plugin can run programs (`exec: true`). */
export type RequestHandler = (request: PluginRequest, peer?: PluginPeer) => Promise<AgentResponse>;

/** One connection: a line reader and writer. */
class Connection implements PluginPeer {
  private buf = '';
  private readonly lines: string[] = [];
  private waiting?: { resolve: (line: string) => void; reject: (err: Error) => void };
  private ended?: Error;

  constructor(
    private readonly sock: net.Socket,
    private readonly timeoutMs: number,
  ) {
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => this.feed(chunk));
    sock.on('error', () => undefined); // 'close' follows
    sock.on('close', () => this.fail(new Error('the plugin closed the connection')));
  }

  private feed(chunk: string): void {
    this.buf += chunk;
    for (let i = this.buf.indexOf('\n'); i >= 0; i = this.buf.indexOf('\n')) {
      this.push(this.buf.slice(0, i));
      this.buf = this.buf.slice(i + 1);
    }
    if (this.buf.length >= MAX_LINE) {
      this.push(this.buf);
      this.buf = '';
    }
  }

  private push(line: string): void {
    const w = this.waiting;
    this.waiting = undefined;
    if (w) w.resolve(line);
    else this.lines.push(line);
  }

  private fail(err: Error): void {
    this.ended ??= err;
    const w = this.waiting;
    this.waiting = undefined;
    w?.reject(err);
  }

  next(timeoutMs: number): Promise<string> {
    const line = this.lines.shift();
    if (line !== undefined) return Promise.resolve(line);
    if (this.ended) return Promise.reject(this.ended);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = undefined;
        reject(new Error(`the plugin did not answer within ${timeoutMs / 1000}s`));
      }, timeoutMs);
      this.waiting = {
        resolve: (l) => {
          clearTimeout(timer);
          resolve(l);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
    });
  }

  async run(steps: readonly ProgramStep[], decision?: AgentProgram['decision']): Promise<StepResult[]> {
    if (this.ended) throw this.ended;
    const program: AgentProgram = { run: steps, ...(decision ? { decision } : {}) };
    this.sock.write(`${JSON.stringify(program)}\n`);
    const line = await this.next(this.timeoutMs);
    let report: unknown;
    try {
      report = JSON.parse(line);
    } catch {
      throw new Error('the plugin’s report is not JSON');
    }
    const problem = reportProblem(report, steps.length);
    if (problem !== undefined) throw new Error(`invalid report from the plugin: ${problem}`);
    return (report as { results: StepResult[] }).results;
  }

  finish(res: AgentResponse): void {
    if (!this.sock.destroyed) this.sock.end(`${JSON.stringify(res)}\n`);
  }
}

/** Serves plugin requests on a unix socket (mode 0600: root on the node only). */
export class AgentSocketServer {
  private server?: net.Server;
  private readonly sockets = new Set<net.Socket>();

  constructor(
    readonly socketPath: string,
    private readonly handler: RequestHandler,
    private readonly onError: (err: unknown) => void = () => undefined,
    private readonly peerTimeoutMs = DEFAULT_PEER_TIMEOUT_MS,
  ) {}

  async start(): Promise<void> {
    fs.mkdirSync(path.dirname(this.socketPath), { recursive: true });
    // A socket file left by a previous agent on this node would make listen fail with EADDRINUSE.
    fs.rmSync(this.socketPath, { force: true });
    const server = net.createServer((sock) => this.serve(sock));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.socketPath, () => resolve());
    });
    fs.chmodSync(this.socketPath, 0o600);
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    fs.rmSync(this.socketPath, { force: true });
  }

  private serve(sock: net.Socket): void {
    this.sockets.add(sock);
    sock.on('close', () => this.sockets.delete(sock));
    const conn = new Connection(sock, this.peerTimeoutMs);
    void conn
      .next(this.peerTimeoutMs)
      .then((line) => this.answer(line, conn))
      .then(
        (res) => conn.finish(res),
        () => sock.destroy(), // the plugin went away before asking anything
      );
  }

  private async answer(line: string, conn: Connection): Promise<AgentResponse> {
    let req: unknown;
    try {
      req = JSON.parse(line);
    } catch {
      return { ok: false, code: CNI_ERROR.decodeFailed, msg: 'mizzen agent: the request is not JSON' };
    }
    const problem = requestProblem(req);
    if (problem !== undefined) return { ok: false, code: CNI_ERROR.decodeFailed, msg: `mizzen agent: invalid request: ${problem}` };
    const request = req as PluginRequest;
    try {
      return await this.handler(request, request.exec === true ? conn : undefined);
    } catch (err) {
      this.onError(err);
      return { ok: false, code: CNI_ERROR.redirectFailed, msg: `mizzen agent failed: ${(err as Error).message}` };
    }
  }
}
