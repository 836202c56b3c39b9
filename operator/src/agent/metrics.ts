import { Counter, Histogram, type Registry } from 'prom-client';
import { REQUEST_BUCKETS } from '../kube/metrics.js';

/** The node agent's own metrics, next to the runtime's (queue, reconciles, API requests). */
export class AgentMetrics {
  readonly requests: Counter;
  readonly requestDuration: Histogram;
  readonly spawns: Counter;
  readonly programSeconds: Counter;
  readonly repairs: Counter;
  readonly cniConfigInserts: Counter;
  readonly netlinkFallbacks: Counter;

  constructor(registry: Registry) {
    const registers = [registry];
    this.requests = new Counter({ name: 'mizzen_cni_requests_total', help: 'Plugin requests by command and result', labelNames: ['command', 'result'], registers });
    this.requestDuration = new Histogram({
      name: 'mizzen_cni_request_duration_seconds',
      help: 'Time the agent took to answer a plugin request, by command',
      labelNames: ['command'],
      buckets: REQUEST_BUCKETS,
      registers,
    });
    this.spawns = new Counter({
      name: 'mizzen_cni_spawns_total',
      help: 'Processes (iptables-save/-restore, ip, nft) run in pod network namespaces, by cause and by who ran them (plugin, agent)',
      labelNames: ['cause', 'by'],
      registers,
    });
    this.programSeconds = new Counter({
      name: 'mizzen_cni_program_seconds_total',
      help: 'Time the agent waited for the plugin to run its programs, by command (the rest of a request is the agent’s own)',
      labelNames: ['command'],
      registers,
    });
    this.repairs = new Counter({ name: 'mizzen_cni_repairs_total', help: 'Repair and drift actions by action', labelNames: ['action'], registers });
    this.netlinkFallbacks = new Counter({
      name: 'mizzen_cni_netlink_fallbacks_total',
      help: 'Fresh pods whose nf_tables batch the kernel refused, programmed with iptables-restore instead',
      registers,
    });
    this.cniConfigInserts = new Counter({ name: 'mizzen_cni_config_inserts_total', help: 'Times install-cni (re-)inserted mizzen-cni into the CNI configuration', registers });
  }
}
