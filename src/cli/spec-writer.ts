// Writes the text of a generated spec: indented lines with a comment after the code saying where each choice came
// from, the comments of a block aligned so the spec reads as a table of decisions.

/** Code longer than this carries its comment on the line above. */
const LONG = 60;

interface Line {
  depth: number;
  code: string;
  comment?: string;
}

export class SpecWriter {
  private readonly lines: Line[] = [];
  private depth = 0;

  comment(text: string): this {
    for (const part of text.split('\n')) this.lines.push({ depth: this.depth, code: `// ${part}`.trimEnd() });
    return this;
  }

  /** A line of code; a long one gets its comment on the line above instead of after it. */
  line(code: string, comment?: string): this {
    if (comment !== undefined && 2 * this.depth + code.length > LONG) {
      this.comment(comment);
      comment = undefined;
    }
    this.lines.push({ depth: this.depth, code, comment });
    return this;
  }

  blank(): this {
    this.lines.push({ depth: this.depth, code: '' });
    return this;
  }

  open(code: string, comment?: string): this {
    this.line(`${code} {`, comment);
    this.depth++;
    return this;
  }

  close(): this {
    this.depth--;
    return this.line('}');
  }

  text(): string {
    const rendered = this.lines.map((l) => ({ ...l, code: l.code ? `${'  '.repeat(l.depth)}${l.code}` : '' }));
    // Comments of consecutive commented lines start in one column.
    const out: string[] = [];
    for (let i = 0; i < rendered.length; ) {
      let j = i;
      while (j < rendered.length && rendered[j].comment !== undefined) j++;
      if (j === i) {
        out.push(rendered[i++].code);
        continue;
      }
      const column = Math.max(...rendered.slice(i, j).map((l) => l.code.length)) + 2;
      for (; i < j; i++) out.push(`${rendered[i].code.padEnd(column - 1)} // ${rendered[i].comment}`);
    }
    return `${out.join('\n')}\n`;
  }
}
