/**
 * A GraphQL selection set as a tree, so one written the way a query reads
 * (`id goods_out_status { code name }`) can be cut down to what a tenant's schema has.
 */
export interface SelectionNode {
  name: string;
  /** Subfields of an object field; undefined for a scalar. */
  children?: SelectionNode[];
  /**
   * Other fields that carry the same information (`carrier { id code } | carrier_id`): a wanted field
   * counts as missing only when the schema has none of them.
   */
  or?: SelectionNode[];
}

const TOKEN = /[A-Za-z_][A-Za-z0-9_]*|[{}|]|\S/g;

/**
 * Parses field names, braces and `|` between alternatives (no arguments, aliases or fragments: the
 * built-in streams need none).
 */
export function parseSelection(text: string): SelectionNode[] {
  const tokens = text.match(TOKEN) ?? [];
  let position = 0;
  function field(): SelectionNode {
    const name = tokens[position++] as string;
    if (!/^[A-Za-z_]/.test(name)) throw new SyntaxError(`unexpected "${name}" in a selection`);
    if (tokens[position] !== "{") return { name };
    position++;
    const node = { name, children: level() };
    if (tokens[position++] !== "}") throw new SyntaxError(`"${name} {" is not closed`);
    return node;
  }
  function level(): SelectionNode[] {
    const nodes: SelectionNode[] = [];
    while (position < tokens.length && tokens[position] !== "}") {
      const node = field();
      while (tokens[position] === "|") {
        position++;
        (node.or ??= []).push(field());
      }
      nodes.push(node);
    }
    return nodes;
  }
  const nodes = level();
  if (position < tokens.length) throw new SyntaxError('unexpected "}" in a selection');
  return nodes;
}

export function printSelection(nodes: readonly SelectionNode[]): string {
  return nodes
    .map((node) => (node.children ? `${node.name} { ${printSelection(node.children)} }` : node.name))
    .join(" ");
}

/** The path of names down a selection that has one field per level: `a { b { c } }` is a.b.c. */
export function selectionPath(nodes: readonly SelectionNode[]): string[] {
  const path: string[] = [];
  let level: readonly SelectionNode[] | undefined = nodes;
  while (level && level.length === 1) {
    const node = level[0] as SelectionNode;
    path.push(node.name);
    level = node.children;
  }
  return path;
}
