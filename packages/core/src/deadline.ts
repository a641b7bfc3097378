/**
 * Settles as `work` does, or rejects with `onTimeout()` after `ms`. The timer
 * is unref'd (it never keeps the process alive) and cleared once `work`
 * settles. Core bounds every store call with it; stores use it to bound
 * their own driver calls. `mapError`, when given, turns every rejection (the
 * timeout's too) into the error the promise rejects with, in the same step.
 */
export function withDeadline<T>(
  work: Promise<T>,
  ms: number,
  onTimeout: () => Error,
  mapError?: (error: unknown) => unknown,
): Promise<T> {
  // One promise and one timer per call (a race of two promises plus a
  // `finally`, or a `.catch` for the mapping, cost more allocations and
  // microtask turns on every store call).
  return new Promise<T>((resolve, reject) => {
    const fail = mapError ? (error: unknown) => reject(mapError(error)) : reject;
    const timer = setTimeout(() => fail(onTimeout()), ms);
    timer.unref();
    work.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        fail(error);
      },
    );
  });
}
