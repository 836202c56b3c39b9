/** Time as an injectable dependency, so queues and leases can be tested without waiting. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

export interface TimerHandle {
  readonly id: number;
}

interface RealHandle extends TimerHandle {
  timer: ReturnType<typeof setTimeout>;
}

let nextId = 1;

/** The process clock. Timers are unref'd so a pending retry never keeps the process alive. */
export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const timer = setTimeout(fn, Math.max(0, ms));
    timer.unref();
    const handle: RealHandle = { id: nextId++, timer };
    return handle;
  },
  clearTimeout(handle: TimerHandle): void {
    clearTimeout((handle as RealHandle).timer);
  },
};

/** A clock that moves only when told to; timers fire in due order during advance(). */
export class FakeClock implements Clock {
  private current: number;
  private timers = new Map<number, { due: number; fn: () => void }>();

  constructor(start = 0) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = nextId++;
    this.timers.set(id, { due: this.current + Math.max(0, ms), fn });
    return { id };
  }

  clearTimeout(handle: TimerHandle): void {
    this.timers.delete(handle.id);
  }

  /** Moves time forward by ms, firing every timer that falls due, earliest first. */
  advance(ms: number): void {
    const target = this.current + ms;
    for (;;) {
      let nextTimer: [number, { due: number; fn: () => void }] | undefined;
      for (const entry of this.timers) {
        if (entry[1].due <= target && (!nextTimer || entry[1].due < nextTimer[1].due)) nextTimer = entry;
      }
      if (!nextTimer) break;
      this.timers.delete(nextTimer[0]);
      this.current = nextTimer[1].due;
      nextTimer[1].fn();
    }
    this.current = target;
  }

  pendingTimers(): number {
    return this.timers.size;
  }
}
