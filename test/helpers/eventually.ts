/**
 * Polls an asynchronous read (the store, through the engine) every 20 ms until it gives a value,
 * or fails naming what it waited for: the fakes' own `waitFor` takes synchronous predicates only.
 */
export async function eventually<T>(
  read: () => Promise<T | undefined | false>,
  options: { timeoutMs?: number; description?: string } = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  for (;;) {
    const value = await read();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${options.description ?? 'the store'}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
