// Facts about a source text as a whole: whether it is text at all, and where its lines start.

/** How much of the start of a file is sampled to tell text from binary data. */
const SAMPLE_CHARS = 8192;
/** Above this share of control or undecodable characters in the sample, a file is not text. */
const MAX_NON_TEXT_SHARE = 0.1;

/**
 * Why `text` looks like binary data (a NUL character, or many control characters or bytes that are not UTF-8 in its
 * first few kilobytes), or undefined for text. A binary file read as a spec would otherwise produce one syntax error
 * per stray byte.
 */
export function binaryReason(text: string): string | undefined {
  const n = Math.min(text.length, SAMPLE_CHARS);
  let nonText = 0;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0) return 'it contains NUL bytes';
    // Tab, line feed, form feed and carriage return are text; other C0 controls, DEL and U+FFFD (what an
    // undecodable byte becomes when the file is read as UTF-8) are not.
    if ((c < 32 && c !== 9 && c !== 10 && c !== 12 && c !== 13) || c === 127 || c === 0xfffd) nonText++;
  }
  if (n > 0 && nonText / n > MAX_NON_TEXT_SHARE) return `${Math.round((100 * nonText) / n)}% of its first ${n} characters are control characters or not UTF-8`;
  return undefined;
}

/** Line and column (1-based) of offsets in one text, each in O(log lines) after one pass over the text. */
export class LineIndex {
  private readonly starts: number[] = [0];

  constructor(readonly text: string) {
    for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) this.starts.push(i + 1);
  }

  lineCol(offset: number): [number, number] {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    return [lo + 1, offset - this.starts[lo] + 1];
  }

  /** The text of a line (1-based), without its line break. */
  line(n: number): string {
    const start = this.starts[n - 1];
    if (start === undefined) return '';
    const next = this.starts[n];
    return this.text.slice(start, next === undefined ? this.text.length : next - 1);
  }
}

let lastIndex: LineIndex | undefined;

/** The line index of `text`, reused while the same text is asked about (diagnostics come in runs per file). */
export function lineIndexOf(text: string): LineIndex {
  if (lastIndex?.text !== text) lastIndex = new LineIndex(text);
  return lastIndex;
}
