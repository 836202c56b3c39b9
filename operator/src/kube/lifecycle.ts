import type { Logger } from '../util/log.js';

/** Calls stop() once on the first SIGINT or SIGTERM: the clean shutdown of the operator and the agent. */
export function stopOnSignals(log: Logger, stop: () => Promise<void>): void {
  const onSignal = (sig: string): void => {
    log.info('Received signal; stopping', { signal: sig });
    void stop();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
}
