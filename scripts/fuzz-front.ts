// A long fuzzing run of the parser and checker (the test suite runs a sample of the same properties):
//   npx tsx scripts/fuzz-front.ts [cases=10000] [seed]
// Each case is a mutated shipped spec, random token soup, deeply nested expressions or long flat chains. A case fails if the front end throws, takes over two
// seconds, or reports a diagnostic outside the file. Failing inputs are printed so they can become golden cases.

import fc from 'fast-check';
import { checkSource } from '../src/check/check.ts';
import { deepNesting, frontEndProblems, longChain, mutatedSpec, tokenSoup } from '../test/support/spec-mutations.ts';

const cases = Number(process.argv[2] ?? 10_000);
const seed = Number(process.argv[3] ?? Date.now() % 2 ** 31);
const inputs = fc.sample(
  fc.oneof({ arbitrary: mutatedSpec, weight: 6 }, { arbitrary: tokenSoup, weight: 2 }, { arbitrary: deepNesting, weight: 1 }, { arbitrary: longChain, weight: 1 }),
  { numRuns: cases, seed },
);

let failures = 0;
let slowest = 0;
const t0 = performance.now();
inputs.forEach((text, i) => {
  const start = performance.now();
  const problems = frontEndProblems(text, (t) => checkSource(t, 'fuzz.mdl'));
  const took = performance.now() - start;
  slowest = Math.max(slowest, took);
  if (took > 2000) problems.push(`took ${took.toFixed(0)} ms`);
  if (problems.length) {
    failures++;
    console.log(`case ${i}: ${problems.join('; ')}\n---\n${text}\n---`);
  }
  if ((i + 1) % 1000 === 0) process.stderr.write(`\r${i + 1}/${cases} cases, ${failures} failing`);
});
process.stderr.write('\n');
console.log(`${cases} cases (seed ${seed}) in ${((performance.now() - t0) / 1000).toFixed(1)} s, slowest ${slowest.toFixed(1)} ms: ${failures} failing`);
process.exit(failures ? 1 : 0);
