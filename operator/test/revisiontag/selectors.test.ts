import { expect } from 'chai';
import type { V1LabelSelector } from '@kubernetes/client-node';
import { jointlySatisfiable, requirementsOf, selectorMatches } from '../../src/render/revisiontag/index.js';

const expr = (key: string, operator: string, values?: string[]) => ({ key, operator, values });

describe('revision tags: label selectors', () => {
  const matchCases: { name: string; selector: V1LabelSelector | undefined; labels: Record<string, string>; want: boolean }[] = [
    { name: 'an absent selector matches every label set', selector: undefined, labels: {}, want: true },
    { name: 'matchLabels needs the exact value', selector: { matchLabels: { a: '1' } }, labels: { a: '2' }, want: false },
    { name: 'In matches one of its values', selector: { matchExpressions: [expr('a', 'In', ['1', '2'])] }, labels: { a: '2' }, want: true },
    { name: 'In does not match an absent key', selector: { matchExpressions: [expr('a', 'In', ['1'])] }, labels: {}, want: false },
    { name: 'NotIn matches an absent key', selector: { matchExpressions: [expr('a', 'NotIn', ['false'])] }, labels: {}, want: true },
    { name: 'NotIn refuses a listed value', selector: { matchExpressions: [expr('a', 'NotIn', ['false'])] }, labels: { a: 'false' }, want: false },
    { name: 'Exists needs the key, whatever its value', selector: { matchExpressions: [expr('a', 'Exists')] }, labels: { a: '' }, want: true },
    { name: 'DoesNotExist refuses the key even with an empty value', selector: { matchExpressions: [expr('a', 'DoesNotExist')] }, labels: { a: '' }, want: false },
    { name: 'matchLabels and matchExpressions are ANDed', selector: { matchLabels: { a: '1' }, matchExpressions: [expr('b', 'Exists')] }, labels: { a: '1' }, want: false },
  ];
  for (const c of matchCases) it(c.name, () => expect(selectorMatches(c.selector, c.labels)).to.equal(c.want));

  const jointCases: { name: string; a: V1LabelSelector; b: V1LabelSelector; want: boolean }[] = [
    { name: 'two tags select different istio.io/rev values: no namespace has both', a: { matchExpressions: [expr('istio.io/rev', 'In', ['prod'])] }, b: { matchExpressions: [expr('istio.io/rev', 'In', ['canary'])] }, want: false },
    { name: 'the same istio.io/rev value is one namespace for both', a: { matchExpressions: [expr('istio.io/rev', 'In', ['prod'])] }, b: { matchLabels: { 'istio.io/rev': 'prod' } }, want: true },
    { name: 'In against DoesNotExist on the same key never meets', a: { matchExpressions: [expr('istio.io/rev', 'In', ['prod'])] }, b: { matchExpressions: [expr('istio.io/rev', 'DoesNotExist')] }, want: false },
    { name: 'NotIn and DoesNotExist meet where the key is absent', a: { matchExpressions: [expr('x', 'NotIn', ['false'])] }, b: { matchExpressions: [expr('x', 'DoesNotExist')] }, want: true },
    { name: 'Exists and NotIn meet on a fresh value', a: { matchExpressions: [expr('x', 'Exists')] }, b: { matchExpressions: [expr('x', 'NotIn', ['a', 'b'])] }, want: true },
    { name: 'In whose only values NotIn excludes is unsatisfiable', a: { matchExpressions: [expr('x', 'In', ['a'])] }, b: { matchExpressions: [expr('x', 'NotIn', ['a'])] }, want: false },
    { name: 'two In lists meet on a common value', a: { matchExpressions: [expr('x', 'In', ['a', 'b'])] }, b: { matchExpressions: [expr('x', 'In', ['b', 'c'])] }, want: true },
    { name: 'requirements on different keys never conflict', a: { matchExpressions: [expr('x', 'DoesNotExist')] }, b: { matchExpressions: [expr('y', 'Exists')] }, want: true },
    { name: 'empty selectors match everything, so they meet', a: {}, b: {}, want: true },
  ];
  for (const c of jointCases) it(c.name, () => expect(jointlySatisfiable(requirementsOf(c.a), requirementsOf(c.b))).to.equal(c.want));
});
