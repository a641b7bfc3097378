/**
 * Settles as `work` does, or rejects with `onTimeout()` after `ms`. The timer
 * is unref'd (it never keeps the process alive) and cleared once `work`
 * settles. Core bounds every store call with it; stores use it to bound
 * their own driver calls.
 */
export function withDeadline<T>(work: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
    timer.unref();
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}
