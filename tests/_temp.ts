/**
 * A temporary directory for the length of one test.
 *
 * @module
 */

/** Runs `fn` with a fresh temporary directory, then removes the directory and everything in it. */
export async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
