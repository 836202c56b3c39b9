import { AsyncLocalStorage } from 'node:async_hooks';

// Whether the code running now works for an urgent work-queue key (one added with priority, such as an endpoint
// change): the controller runs such a reconcile inside urgent(), and the client's rate limiter lets its requests
// go ahead of the bulk requests waiting for a token. Context instead of a parameter, so that every request a
// reconcile makes (through any helper) carries it.
const storage = new AsyncLocalStorage<boolean>();

export function urgent<T>(fn: () => T): T {
  return storage.run(true, fn);
}

export function isUrgent(): boolean {
  return storage.getStore() === true;
}
