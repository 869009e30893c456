// Errors as a reader needs them: what failed (the URL and HTTP status of a fetch), then the problems as a list —
// one item per diagnostic, per weights mismatch, per line of a multi-line message. Each part of the page has its own
// error box, so a failed run leaves the editor and the masks in place.

import type { Diagnostic } from '../src/lang/diagnostics.ts';
import { WeightsError } from '../src/runtime/weights.ts';

/** A fetch that failed: the URL and the HTTP status (or the network error) are in the message. */
export class FetchError extends Error {
  constructor(
    readonly url: string,
    readonly status: number | undefined,
    detail: string,
  ) {
    super(`could not fetch ${url}: ${detail}`);
  }
}

/** The body of a URL as text; anything but a 2xx answer is a FetchError (never parsed as if it were the file). */
export async function fetchBytes(url: string): Promise<Uint8Array> {
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new FetchError(url, undefined, `network error (${(e as Error).message})`);
  }
  if (!res.ok) throw new FetchError(url, res.status, `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`);
  return new Uint8Array(await res.arrayBuffer());
}

export async function fetchText(url: string): Promise<string> {
  return new TextDecoder().decode(await fetchBytes(url));
}

/** One line for a diagnostic, as the CLI names its parts: place, code, message, hint. */
export function diagnosticLine(d: Diagnostic): string {
  return `${d.span.line}:${d.span.col} ${d.severity} ${d.code}: ${d.message}${d.hint ? ` (hint: ${d.hint})` : ''}`;
}

/** Shows an error in `box`: a heading saying what failed, then its problems as a list. */
export function showError(box: HTMLElement, what: string, e: unknown): void {
  box.replaceChildren();
  box.hidden = false;
  const heading = document.createElement('div');
  heading.className = 'error-heading';
  let items: string[];
  if (e instanceof WeightsError) {
    heading.textContent = `${what}: ${e.source}: the weights do not match the spec (${e.problems.length} problem${e.problems.length === 1 ? '' : 's'})`;
    items = e.problems;
  } else if (Array.isArray(e)) {
    heading.textContent = what;
    items = e.map(String);
  } else {
    const [first, ...rest] = (e instanceof Error ? e.message : String(e)).split('\n');
    heading.textContent = `${what}: ${first}`;
    items = rest.map((l) => l.trim()).filter(Boolean);
  }
  box.append(heading);
  if (items.length) {
    const list = document.createElement('ul');
    for (const item of items) {
      const li = document.createElement('li');
      li.textContent = item;
      list.append(li);
    }
    box.append(list);
  }
}

export function clearError(box: HTMLElement): void {
  box.replaceChildren();
  box.hidden = true;
}
