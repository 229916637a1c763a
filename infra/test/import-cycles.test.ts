// No two files of the app import each other, directly or around a loop: a cycle means neither
// file can be read, loaded or changed without the other, and CommonJS hands one of them a
// half-initialised module at load time. Type-only imports count too: they tie the files together
// for a reader as much as value imports do.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ts from 'typescript';

const INFRA = path.join(__dirname, '..');
/** The folders whose files the app and its tests are made of. */
const FOLDERS = ['lib', 'bin', 'scripts', 'test'];

/** The relative module specifiers a file names: static imports and re-exports (type-only ones
 *  included), `import()`, `require()`. */
function specifiers(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier) {
      if (ts.isStringLiteral(node.moduleSpecifier)) found.push(node.moduleSpecifier.text);
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      const e = node.moduleReference.expression;
      if (ts.isStringLiteral(e)) found.push(e.text);
    } else if (ts.isCallExpression(node) && node.arguments.length === 1 && ts.isStringLiteral(node.arguments[0])) {
      const callee = node.expression;
      const isRequire = ts.isIdentifier(callee) && callee.text === 'require';
      if (isRequire || callee.kind === ts.SyntaxKind.ImportKeyword) found.push(node.arguments[0].text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found.filter((s) => s.startsWith('.'));
}

/** The file a relative specifier names, as TypeScript resolves it (`x` → `x.ts`, `x.js`,
 *  `x/index.ts`); undefined for a file outside the graph (JSON, a package file). */
function resolve(from: string, specifier: string): string | undefined {
  const base = path.resolve(path.dirname(from), specifier);
  const candidates = [base, `${base}.ts`, `${base}.js`, path.join(base, 'index.ts'), path.join(base, 'index.js')];
  return candidates.find((c) => /\.(ts|js)$/.test(c) && fs.existsSync(c) && fs.statSync(c).isFile());
}

/** Every .ts and .js file of the folders, each with the files it imports (paths relative to
 *  infra/). */
export function importGraph(root: string, folders: readonly string[]): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const folder of folders) {
    const dir = path.join(root, folder);
    if (!fs.existsSync(dir)) continue;
    for (const name of fs.readdirSync(dir).sort()) {
      if (!/\.(ts|js)$/.test(name) || name.endsWith('.d.ts')) continue;
      const file = path.join(dir, name);
      const targets = specifiers(file)
        .map((s) => resolve(file, s))
        .filter((t): t is string => t !== undefined)
        .map((t) => path.relative(root, t));
      graph.set(path.relative(root, file), [...new Set(targets)]);
    }
  }
  return graph;
}

/** Every strongly connected set of two or more files (and every file that imports itself): its
 *  files, sorted, and one loop through them (`a → b → a`), the shortest from the set's first file
 *  back to it. Tarjan's algorithm. */
export function importKnots(graph: Map<string, string[]>): { files: string[]; loop: string[] }[] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const components: string[][] = [];
  let next = 0;
  const connect = (v: string): void => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        connect(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      const selfLoop = (graph.get(v) ?? []).includes(v);
      if (component.length > 1 || selfLoop) components.push(component.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) connect(v);
  return components.map((files) => ({ files, loop: loopThrough(graph, files) }));
}

/** The loop through each knot of the graph. */
export function importCycles(graph: Map<string, string[]>): string[][] {
  return importKnots(graph).map((k) => k.loop);
}

/** The shortest loop from the component's first file back to it, inside the component. */
function loopThrough(graph: Map<string, string[]>, component: string[]): string[] {
  const inside = new Set(component);
  const start = component[0];
  const previous = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const v = queue.shift()!;
    for (const w of graph.get(v) ?? []) {
      if (!inside.has(w)) continue;
      if (w === start) {
        const loop = [start];
        for (let u = v; u !== start; u = previous.get(u)!) loop.splice(1, 0, u);
        return [...loop, start];
      }
      if (!previous.has(w)) {
        previous.set(w, v);
        queue.push(w);
      }
    }
  }
  throw new Error(`no loop through ${start} in ${component.join(', ')}`);
}

describe('the cycle finder', () => {
  const graph = (edges: Record<string, string[]>) => new Map(Object.entries(edges));

  test('finds two files that import each other', () => {
    expect(importCycles(graph({ a: ['b'], b: ['a'], c: ['a'] }))).toEqual([['a', 'b', 'a']]);
  });

  test('finds a loop around three files and a file that imports itself, and nothing in a tree', () => {
    const cycles = importCycles(graph({ a: ['b'], b: ['c'], c: ['a', 'd'], d: ['d'], e: ['a', 'd'] }));
    expect(cycles).toEqual(expect.arrayContaining([['a', 'b', 'c', 'a'], ['d', 'd']]));
    expect(cycles).toHaveLength(2);
    expect(importCycles(graph({ a: ['b', 'c'], b: ['c'], c: [] }))).toEqual([]);
  });

  test('reads type-only imports, re-exports and require() from the source', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'import-cycles-'));
    try {
      fs.mkdirSync(path.join(dir, 'lib'));
      fs.writeFileSync(path.join(dir, 'lib', 'a.ts'), "import type { B } from './b';\nexport type A = B;\n");
      fs.writeFileSync(path.join(dir, 'lib', 'b.ts'), "export { C as B } from './c';\n");
      fs.writeFileSync(path.join(dir, 'lib', 'c.ts'), "const a = require('./a');\nexport type C = string;\n");
      const g = importGraph(dir, ['lib']);
      expect(g.get('lib/a.ts')).toEqual(['lib/b.ts']);
      expect(g.get('lib/b.ts')).toEqual(['lib/c.ts']);
      expect(g.get('lib/c.ts')).toEqual(['lib/a.ts']);
      expect(importCycles(g)).toEqual([['lib/a.ts', 'lib/b.ts', 'lib/c.ts', 'lib/a.ts']]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

test(`no file of ${FOLDERS.join(', ')} imports itself, directly or around a loop`, () => {
  const graph = importGraph(INFRA, FOLDERS);
  // The graph is the app itself: a broken parse would find no edges and pass.
  expect(graph.get('lib/ingest-stack.ts')).toEqual(expect.arrayContaining(['lib/config.ts', 'lib/database.ts']));
  const knots = importKnots(graph).map(
    ({ files, loop }) =>
      loop.join(' → ') + (files.length > loop.length - 1 ? ` (and around: ${files.join(', ')})` : ''),
  );
  expect(knots).toEqual([]);
});
