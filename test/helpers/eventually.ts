/** Polls `check` until it passes or `withinMs` runs out (then throws its last failure). Returns the elapsed ms. */
export async function eventually(check: () => Promise<void>, withinMs = 1000): Promise<number> {
  const started = performance.now();
  for (;;) {
    try {
      await check();
      return performance.now() - started;
    } catch (error) {
      if (performance.now() - started > withinMs) throw error;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}
