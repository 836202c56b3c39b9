// Reading YAML the user wrote: a syntax error is reported as a YAML error at its line and column, never turned
// into whatever half a document the parser could recover (an unterminated `{profile: [` is not an empty list).
import YAML from 'yaml';
import { UserError } from './errors.js';

/** The documents of a YAML stream as plain values; throws a UserError naming `source`, line and column. */
export function parseYamlDocuments(text: string, source: string): unknown[] {
  const docs = YAML.parseAllDocuments(text);
  const out: unknown[] = [];
  for (const doc of docs) {
    const err = doc.errors[0];
    if (err) {
      const at = err.linePos?.[0];
      const where = at ? `${source}:${at.line}:${at.col}` : source;
      throw new UserError(`${where}: YAML error: ${err.message.split('\n')[0]?.replace(/ at line \d+, column \d+:?$/, '')}`);
    }
    out.push(doc.toJS());
  }
  return out;
}
