// One progress line while a scenario runs: rewritten in place on a terminal, a plain line
// every few seconds otherwise (CI logs, pipes). Permanent lines (events) go above it.

export class Progress {
  readonly #tty = process.stderr.isTTY === true;
  readonly #everyMs: number;
  #last = 0;
  #shown = '';

  constructor(everyMs = 5_000) {
    this.#everyMs = everyMs;
  }

  update(text: string): void {
    if (this.#tty) {
      const width = process.stderr.columns ?? 120;
      this.#shown = text.length > width - 1 ? text.slice(0, width - 2) + '…' : text;
      process.stderr.write(`\r\x1b[2K${this.#shown}`);
      return;
    }
    const now = Date.now();
    if (now - this.#last < this.#everyMs) return;
    this.#last = now;
    process.stderr.write(`${text}\n`);
  }

  /** A line that stays (the progress line is redrawn under it). */
  log(text: string): void {
    if (this.#tty) process.stderr.write(`\r\x1b[2K${text}\n${this.#shown}`);
    else process.stderr.write(`${text}\n`);
  }

  done(): void {
    if (this.#tty && this.#shown) process.stderr.write('\r\x1b[2K');
    this.#shown = '';
  }
}
