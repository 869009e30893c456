// The training graph: the forward IR followed by the declared loss, built only when a command asks for training
// (inference never pays for labels). Two nodes are added after the logits:
//
//   %xent.labels = labels(%tgt) {pad = 0, loss = xent}        : i32[B, T]   the label of every position, -1 where
//                                                                            it does not count (pad, past the end,
//                                                                            another document, outside `count`)
//   %xent = cross_entropy(%logits, %xent.labels)              : f32[]       mean over counted positions
//
// The count predicate stays with the checked loss (the node names it), as attention nodes name their masks.

import type { CheckedModel } from '../check/model.ts';
import { buildIr } from './build.ts';
import type { IrGraph, IrNode } from './ir.ts';

export class NoLossError extends Error {}

export function buildTrainingIr(m: CheckedModel): IrGraph {
  const loss = m.loss;
  if (!loss || !m.output) throw new NoLossError(`model '${m.name}' declares no loss; add one, e.g. \`loss xent = cross_entropy(logits, labels = tgt)\` or \`labels = next(ids)\``);
  const g = buildIr(m);
  const logits = g.nodes.find((n) => n.id === `%${loss.output}`);
  const labelsInput = g.nodes.find((n) => n.id === `%${loss.labels}`);
  if (!logits || !labelsInput) throw new Error(`the training graph needs %${loss.output} and %${loss.labels}`);
  // Token ids are never negative, so -1 stands for "no pad id": every position's label then counts.
  const args = [labelsInput.id, ...(loss.within ? [`%${loss.within}`] : [])];
  const labels: IrNode = { id: `%${loss.name}.labels`, op: 'labels', args, attrs: { loss: loss.name, pad: loss.pad ?? -1, next: loss.next, count: !!loss.count }, shape: labelsInput.shape, dtype: 'i32', span: loss.span };
  const xent: IrNode = { id: `%${loss.name}`, op: 'cross_entropy', args: [logits.id, labels.id], attrs: {}, shape: [], dtype: 'f32', span: loss.span };
  return { ...g, nodes: [...g.nodes, labels, xent], outputs: [xent.id] };
}
