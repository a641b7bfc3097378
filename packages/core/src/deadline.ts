/**
 * Settles as `work` does, or rejects with `onTimeout()` after `ms`. The timer
 * is unref'd (it never keeps the process alive) and cleared once `work`
 * settles. Core bounds every store call with it; stores use it to bound
 * their own driver calls.
 */
export function withDeadline<T>(work: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  // One promise and one timer per call (a race of two promises plus a
  // `finally` cost three more allocations on every store call).
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(onTimeout()), ms);
    timer.unref();
    work.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
