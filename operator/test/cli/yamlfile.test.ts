import { expect } from 'chai';
import { UserError } from '../../src/cli/errors.js';
import { parseYamlDocuments } from '../../src/cli/yamlfile.js';

describe('cli: YAML files', () => {
  const fails = (text: string): string => {
    try {
      parseYamlDocuments(text, 'iop.yaml');
    } catch (err) {
      expect(err).to.be.instanceOf(UserError);
      return (err as Error).message;
    }
    throw new Error('parsed without an error');
  };

  it('an unterminated flow sequence is a YAML error with line and column, not an empty list', () => {
    expect(fails('kind: IstioOperator\nspec: {profile: [\n')).to.match(/^iop\.yaml:3:1: YAML error: Flow sequence .* end with a \]$/);
  });

  it('a nested mapping in a compact one is reported at its own line and column', () => {
    expect(fails('kind: IstioOperator\nspec:\n  profile: a: b\n')).to.match(/^iop\.yaml:3:\d+: YAML error: Nested mappings/);
  });

  it('an error in the second document names the second document’s line', () => {
    expect(fails('kind: A\n---\nkind: B\nx: [1, 2\n')).to.match(/^iop\.yaml:[45]:\d+: YAML error:/);
  });

  it('valid documents come back as plain values, one per document', () => {
    expect(parseYamlDocuments('a: 1\n---\nb: [x]\n', 'f')).to.deep.equal([{ a: 1 }, { b: ['x'] }]);
  });
});
