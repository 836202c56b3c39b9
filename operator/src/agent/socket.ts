// The unix socket between mizzen-cni and the agent: one JSON line each way per connection.
import net from 'node:net';
import fs from 'node:fs';
import path from 'node:path';
import { type AgentResponse, type PluginRequest, CNI_ERROR, requestProblem } from './protocol.js';
import { AgentUnreachableError } from './plugin.js';

const MAX_LINE = 1 << 20;

/** Sends one request and resolves with the answer. Rejects with AgentUnreachableError if there is none. */
export function callAgent(socketPath: string, request: PluginRequest, timeoutMs: number): Promise<AgentResponse> {
  return new Promise((resolve, reject) => {
    const sock = net.createConnection(socketPath);
    let buf = '';
    let settled = false;
    const finish = (err: Error | undefined, res?: AgentResponse): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(res as AgentResponse);
    };
    const timer = setTimeout(() => finish(new AgentUnreachableError(`no answer within ${timeoutMs / 1000}s`)), timeoutMs);
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write(`${JSON.stringify(request)}\n`));
    sock.on('data', (chunk: string) => {
      buf += chunk;
      const i = buf.indexOf('\n');
      if (i < 0) return;
      try {
        finish(undefined, JSON.parse(buf.slice(0, i)) as AgentResponse);
      } catch (err) {
        finish(new AgentUnreachableError(`the agent's answer is not JSON: ${(err as Error).message}`));
      }
    });
    sock.on('error', (err: NodeJS.ErrnoException) => finish(new AgentUnreachableError(err.code ? `connect ${err.code}` : err.message)));
    sock.on('close', () => finish(new AgentUnreachableError('the agent closed the connection without an answer')));
  });
}

export type RequestHandler = (request: PluginRequest) => Promise<AgentResponse>;

/** Serves plugin requests on a unix socket (mode 0600: root on the node only). */
export class AgentSocketServer {
  private server?: net.Server;
  private readonly sockets = new Set<net.Socket>();

  constructor(
    readonly socketPath: string,
    private readonly handler: RequestHandler,
    private readonly onError: (err: unknown) => void = () => undefined,
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
    sock.on('error', () => undefined);
    sock.setEncoding('utf8');
    let buf = '';
    let answered = false;
    sock.on('data', (chunk: string) => {
      if (answered) return;
      buf += chunk;
      const i = buf.indexOf('\n');
      if (i < 0 && buf.length < MAX_LINE) return;
      answered = true;
      void this.answer(i < 0 ? buf : buf.slice(0, i)).then((res) => {
        if (!sock.destroyed) sock.end(`${JSON.stringify(res)}\n`);
      });
    });
  }

  private async answer(line: string): Promise<AgentResponse> {
    let req: unknown;
    try {
      req = JSON.parse(line);
    } catch {
      return { ok: false, code: CNI_ERROR.decodeFailed, msg: 'mizzen agent: the request is not JSON' };
    }
    const problem = requestProblem(req);
    if (problem !== undefined) return { ok: false, code: CNI_ERROR.decodeFailed, msg: `mizzen agent: invalid request: ${problem}` };
    try {
      return await this.handler(req as PluginRequest);
    } catch (err) {
      this.onError(err);
      return { ok: false, code: CNI_ERROR.redirectFailed, msg: `mizzen agent failed: ${(err as Error).message}` };
    }
  }
}
