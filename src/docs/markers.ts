// Generated parts of the docs live between `<!-- BEGIN name -->` and `<!-- END name -->` lines; these helpers read
// and rewrite them, so a generator and its drift test agree on what "the generated part" is.

const begin = (name: string) => `<!-- BEGIN ${name} (generated: do not edit by hand) -->`;
const end = (name: string) => `<!-- END ${name} -->`;

/** The text between the markers named `name` (without the marker lines); throws when they are missing. */
export function between(doc: string, name: string): string {
  const b = doc.indexOf(begin(name));
  const e = doc.indexOf(end(name));
  if (b < 0 || e < b) throw new Error(`no "${begin(name)}" ... "${end(name)}" markers`);
  return doc
    .slice(b + begin(name).length, e)
    .replace(/^\n/, '')
    .replace(/\n$/, '');
}

/** `doc` with the text between the markers named `name` replaced by `content`. */
export function replaceBetween(doc: string, name: string, content: string): string {
  between(doc, name);
  const b = doc.indexOf(begin(name)) + begin(name).length;
  return `${doc.slice(0, b)}\n${content}\n${doc.slice(doc.indexOf(end(name)))}`;
}

/** The marker lines with `content` between them, to paste into a doc the first time. */
export function wrap(name: string, content: string): string {
  return `${begin(name)}\n${content}\n${end(name)}`;
}
