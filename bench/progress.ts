// Progress on stderr, so that stdout and the report stay clean: one line per step with the elapsed time, rewritten
// in place on a terminal and appended otherwise (CI logs keep every line).

export class Progress {
  private readonly start = performance.now();
  private done = 0;
  private readonly live = !!process.stderr.isTTY;
  private lastLength = 0;

  constructor(private total: number) {}

  /** More steps than first planned (a section discovered its size). */
  grow(extra: number): void {
    this.total += extra;
  }

  /** Announces the step about to run. */
  step(what: string): void {
    this.done++;
    this.write(`[${String(this.done).padStart(String(this.total).length)}/${this.total}] ${this.elapsed()} ${what}`);
  }

  /** A remark that stays on screen (a skipped comparison, a measurement worth seeing early). */
  note(text: string): void {
    if (this.live && this.lastLength) process.stderr.write('\n');
    this.lastLength = 0;
    process.stderr.write(`  ${text}\n`);
  }

  finish(text: string): void {
    if (this.live && this.lastLength) process.stderr.write('\n');
    process.stderr.write(`${text} (${this.elapsed()})\n`);
  }

  elapsedSeconds(): number {
    return (performance.now() - this.start) / 1000;
  }

  private elapsed(): string {
    const s = Math.round(this.elapsedSeconds());
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
  }

  private write(line: string): void {
    if (this.live) {
      const width = process.stderr.columns ?? 120;
      const text = line.length > width - 1 ? `${line.slice(0, width - 2)}…` : line;
      process.stderr.write(`\r${text}${' '.repeat(Math.max(0, this.lastLength - text.length))}`);
      this.lastLength = text.length;
    } else {
      process.stderr.write(`${line}\n`);
    }
  }
}
