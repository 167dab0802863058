/**
 * The progress line of the long prepro commands: one line on stderr, rewritten in place (at most ten times a
 * second) while a terminal is watching, and nothing at all otherwise. Private to `prepro/`.
 *
 * @module
 */

/** One line of progress on stderr (see the module doc). */
export class ProgressLine {
  #enabled: boolean;
  #last = 0;
  #start = performance.now();
  #encoder = new TextEncoder();

  /** @param enabled Draw at all; default: when stderr is a terminal. */
  constructor(enabled: boolean = Deno.stderr.isTerminal()) {
    this.#enabled = enabled;
  }

  /** Seconds since the line was made. */
  get seconds(): number {
    return (performance.now() - this.#start) / 1000;
  }

  /**
   * Redraws the line with `counts` (e.g. "3/50 shards, 300,000 stories"), the token rate and an ETA from `fraction`.
   *
   * @param counts What is done so far, in words.
   * @param tokens Tokens so far.
   * @param fraction Share of the work done, in [0, 1], or undefined when unknown (no ETA).
   * @param force Draw even if the last draw was under 0.1 s ago.
   */
  update(counts: string, tokens: number, fraction?: number, force = false): void {
    if (!this.#enabled) return;
    const now = performance.now();
    if (!force && now - this.#last < 100) return;
    this.#last = now;
    const s = this.seconds;
    const rate = s > 0 ? tokens / s : 0;
    const eta = fraction !== undefined && fraction > 0 && fraction < 1 ? `, ETA ${duration(s / fraction - s)}` : "";
    const line = `${counts}, ${tokens.toLocaleString("en-US")} tokens, ${formatRate(rate)} tokens/s${eta}`;
    Deno.stderr.writeSync(this.#encoder.encode(`\r${line}\x1b[K`));
  }

  /** Clears the line. */
  done(): void {
    if (this.#enabled) Deno.stderr.writeSync(this.#encoder.encode("\r\x1b[K"));
  }
}

/** 1234567 -> "1.23M". */
function formatRate(x: number): string {
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)}M`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(1)}k`;
  return x.toFixed(0);
}

/** Seconds -> "1h02m", "3m05s", "12s". */
function duration(s: number): string {
  const t = Math.round(s);
  if (t >= 3600) return `${Math.floor(t / 3600)}h${String(Math.floor(t / 60) % 60).padStart(2, "0")}m`;
  if (t >= 60) return `${Math.floor(t / 60)}m${String(t % 60).padStart(2, "0")}s`;
  return `${t}s`;
}
