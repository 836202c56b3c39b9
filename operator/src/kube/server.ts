import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface ProbeServerOptions {
  host: string;
  port: number;
  registry: Registry;
  /** Returns undefined when healthy, or the reason it is not. */
  healthy: () => string | undefined;
  ready: () => string | undefined;
}

/** Serves /healthz, /readyz and /metrics. */
export class ProbeServer {
  private server?: http.Server;

  constructor(private readonly opts: ProbeServerOptions) {}

  async start(): Promise<AddressInfo> {
    const server = http.createServer((req, res) => {
      void this.handle(req.url ?? '/', res);
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port, this.opts.host, () => resolve());
    });
    return server.address() as AddressInfo;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async handle(url: string, res: http.ServerResponse): Promise<void> {
    const path = url.split('?')[0];
    if (path === '/healthz' || path === '/readyz') {
      const problem = path === '/healthz' ? this.opts.healthy() : this.opts.ready();
      res.writeHead(problem ? 503 : 200, { 'Content-Type': 'text/plain' });
      res.end(problem ?? 'ok');
      return;
    }
    if (path === '/metrics') {
      const body = await this.opts.registry.metrics();
      res.writeHead(200, { 'Content-Type': this.opts.registry.contentType });
      res.end(body);
      return;
    }
    res.writeHead(404, { 'Content-Type': 'text/plain' });
    res.end('not found');
  }
}
