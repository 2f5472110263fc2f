// The import graph of a Rust crate's `src/`, read from the source text, for
// layers.test.mjs: which module names which, and the cycles among them.
//
// Nodes. At the top level every top-level module is one node (a file `x.rs`, a folder
// `x/` with its `x/mod.rs` or `x.rs` beside it: all of it one node), and the crate root
// (`lib.rs`) is one more. Inside a folder the same again, one level down: the folder's
// own root (`x/mod.rs` or `x.rs`) and each of its files and sub-folders are the nodes,
// and so on at every depth.
//
// Edges. A module depends on the module a path it writes names: `use crate::…`,
// `use super::…`, `use self::…`, a `use` of a child module by its bare name, and the same
// paths in code (`crate::x::f()`, `super::Y`, `$crate::…` in macros, `child::f()` in a
// module that has children). `pub use crate::x::Y` in `a` is an edge a → x like any other
// `use`. A path through the crate root or a folder's root to something that root
// re-exports from its own descendants (`crate::ApiError`, `super::Admitted` when
// `mod.rs` says `pub use self::admit::Admitted`) is followed to the module that has it:
// a root re-exporting its own parts is a facade, not a layer. `mod x;` is no edge.
// Ignored: comments, string and char literals, and every item under `#[cfg(test)]`
// (a test module may import anything), and whole files that are `#[cfg(test)]` modules.
// Paths to other crates (`std::`, `serde::`, `scopien_auth::`) are not this graph's.
import { readdirSync, readFileSync, statSync, existsSync } from "node:fs";
import { basename, join, relative } from "node:path";

/** Rust source as tokens (`ident`, `punct`, `::`, `lit`), with comments, string, byte
 * string, raw string and char literals reduced to one `lit` token; each with its line. */
export function tokenize(src) {
  const tokens = [];
  let i = 0;
  let line = 1;
  const n = src.length;
  const isIdentStart = (c) => /[A-Za-z_]/.test(c);
  const isIdent = (c) => /[A-Za-z0-9_]/.test(c);
  const countLines = (from, to) => {
    for (let k = from; k < to; k++) if (src[k] === "\n") line++;
  };
  const skipQuoted = (from) => {
    // From the opening quote `"`: to just past the closing one, escapes honoured.
    let k = from + 1;
    while (k < n && src[k] !== '"') k += src[k] === "\\" ? 2 : 1;
    return k + 1;
  };
  const rawString = (from) => {
    // From `r` (after any `b`/`c`): r#*"…"#*; returns the end, or -1 if not a raw string.
    let k = from + 1;
    let hashes = 0;
    while (src[k] === "#") {
      hashes++;
      k++;
    }
    if (src[k] !== '"') return -1;
    const close = '"' + "#".repeat(hashes);
    const end = src.indexOf(close, k + 1);
    return end === -1 ? n : end + close.length;
  };
  while (i < n) {
    const c = src[i];
    if (c === "\n") {
      line++;
      i++;
    } else if (/\s/.test(c)) {
      i++;
    } else if (c === "/" && src[i + 1] === "/") {
      while (i < n && src[i] !== "\n") i++;
    } else if (c === "/" && src[i + 1] === "*") {
      let depth = 1;
      let k = i + 2;
      while (k < n && depth > 0) {
        if (src[k] === "/" && src[k + 1] === "*") {
          depth++;
          k += 2;
        } else if (src[k] === "*" && src[k + 1] === "/") {
          depth--;
          k += 2;
        } else k++;
      }
      countLines(i, k);
      i = k;
    } else if (c === '"') {
      const end = skipQuoted(i);
      tokens.push({ t: "lit", v: '""', line });
      countLines(i, end);
      i = end;
    } else if ((c === "b" || c === "c") && src[i + 1] === '"') {
      const end = skipQuoted(i + 1);
      tokens.push({ t: "lit", v: '""', line });
      countLines(i, end);
      i = end;
    } else if ((c === "r" || ((c === "b" || c === "c") && src[i + 1] === "r")) && rawString(c === "r" ? i : i + 1) !== -1) {
      const end = rawString(c === "r" ? i : i + 1);
      tokens.push({ t: "lit", v: '""', line });
      countLines(i, end);
      i = end;
    } else if (c === "b" && src[i + 1] === "'") {
      let k = i + 2;
      while (k < n && src[k] !== "'") k += src[k] === "\\" ? 2 : 1;
      tokens.push({ t: "lit", v: "''", line });
      i = k + 1;
    } else if (c === "'") {
      // A char literal ('a', '\n', '\u{1F600}', '😀') or a lifetime / label ('a, 'static).
      if (src[i + 1] === "\\") {
        let k = i + 2;
        while (k < n && src[k] !== "'") k++;
        tokens.push({ t: "lit", v: "''", line });
        i = k + 1;
      } else {
        const cp = src.codePointAt(i + 1);
        const width = cp > 0xffff ? 2 : 1;
        if (src[i + 1 + width] === "'") {
          tokens.push({ t: "lit", v: "''", line });
          i += 2 + width;
        } else {
          let k = i + 1;
          while (k < n && isIdent(src[k])) k++;
          tokens.push({ t: "lifetime", v: src.slice(i, k), line });
          i = k;
        }
      }
    } else if (c === "r" && src[i + 1] === "#" && isIdentStart(src[i + 2] ?? "")) {
      let k = i + 2;
      while (k < n && isIdent(src[k])) k++;
      tokens.push({ t: "ident", v: src.slice(i + 2, k), line });
      i = k;
    } else if (isIdentStart(c)) {
      let k = i;
      while (k < n && isIdent(src[k])) k++;
      tokens.push({ t: "ident", v: src.slice(i, k), line });
      i = k;
    } else if (/[0-9]/.test(c)) {
      let k = i;
      while (k < n && (isIdent(src[k]) || (src[k] === "." && /[0-9]/.test(src[k + 1] ?? "")))) k++;
      tokens.push({ t: "lit", v: "0", line });
      i = k;
    } else if (c === ":" && src[i + 1] === ":") {
      tokens.push({ t: "::", v: "::", line });
      i += 2;
    } else {
      tokens.push({ t: "punct", v: c, line });
      i++;
    }
  }
  return tokens;
}

const OPEN = { "{": "}", "(": ")", "[": "]" };

/** Index just past the bracket group opening at `start`. */
function skipGroup(tokens, start) {
  const stack = [];
  for (let k = start; k < tokens.length; k++) {
    const v = tokens[k].t === "punct" ? tokens[k].v : null;
    if (v && OPEN[v]) stack.push(OPEN[v]);
    else if (v && v === stack.at(-1)) {
      stack.pop();
      if (stack.length === 0) return k + 1;
    }
  }
  return tokens.length;
}

/** Whether tokens at `k` are `# [ cfg ( test ) ]` (or `#!` for an inner attribute). */
function cfgTestAt(tokens, k) {
  const seq = tokens.slice(k, k + 8).map((t) => t.v);
  if (seq[0] !== "#") return null;
  const inner = seq[1] === "!";
  const s = inner ? seq.slice(2) : seq.slice(1);
  if (s.slice(0, 6).join(" ") === "[ cfg ( test ) ]") return { inner, length: (inner ? 2 : 1) + 6 };
  return null;
}

/** The tokens without `#[cfg(test)]` items; and the names of `#[cfg(test)] mod x;`
 * declarations (their files are test code too). `whole`: the file is `#![cfg(test)]`. */
export function withoutTests(tokens) {
  const kept = [];
  const testMods = [];
  let k = 0;
  while (k < tokens.length) {
    const attr = cfgTestAt(tokens, k);
    if (!attr) {
      kept.push(tokens[k++]);
      continue;
    }
    if (attr.inner) return { tokens: [], testMods, whole: true };
    k += attr.length;
    // Further attributes on the same item.
    while (tokens[k]?.v === "#" && tokens[k + 1]?.v === "[") k = skipGroup(tokens, k + 1);
    // The item: to its `;` at depth 0, or through its first `{…}` block.
    const start = k;
    while (k < tokens.length) {
      const v = tokens[k].t === "punct" ? tokens[k].v : null;
      if (v === ";") {
        k++;
        break;
      }
      if (v === "{") {
        k = skipGroup(tokens, k);
        break;
      }
      if (v === "(" || v === "[") {
        k = skipGroup(tokens, k);
        continue;
      }
      k++;
    }
    const item = tokens.slice(start, k);
    const mod = item.findIndex((t) => t.v === "mod");
    if (mod !== -1 && item[mod + 2]?.v === ";") testMods.push(item[mod + 1].v);
  }
  return { tokens: kept, testMods, whole: false };
}

/** The module tree of `srcDir` (whose root is lib.rs or main.rs), from the file system:
 * `modules` maps a module path ("a/b", "" for the root) to its file and children. */
export function moduleTree(srcDir) {
  const modules = new Map();
  const rootFile = ["lib.rs", "main.rs"].map((f) => join(srcDir, f)).find(existsSync);
  if (!rootFile) throw new Error(`${srcDir}: no lib.rs or main.rs`);
  // `dir` holds the children of module `path`.
  const visit = (path, file, dir) => {
    const node = { path, file, children: [] };
    modules.set(path.join("/"), node);
    if (!dir || !existsSync(dir) || !statSync(dir).isDirectory()) return;
    const names = new Set();
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.isFile() && entry.name.endsWith(".rs") && entry.name !== "mod.rs") names.add(entry.name.slice(0, -3));
      if (entry.isDirectory() && /^[A-Za-z_][A-Za-z0-9_]*$/.test(entry.name)) names.add(entry.name);
    }
    if (path.length === 0) names.delete("lib"), names.delete("main");
    for (const name of [...names].sort()) {
      const flat = join(dir, `${name}.rs`);
      const folder = join(dir, name);
      const modRs = join(folder, "mod.rs");
      const childFile = existsSync(flat) ? flat : existsSync(modRs) ? modRs : null;
      if (!childFile) continue; // a folder that is no module (no mod.rs, no x.rs)
      node.children.push(name);
      visit([...path, name], childFile, folder);
    }
  };
  visit([], rootFile, srcDir);
  return modules;
}

/** The paths of a use tree starting at `k` (just after `use`): [{ segs, alias, glob, line }]
 * and the index after its `;`. */
function parseUse(tokens, k) {
  const out = [];
  const tree = (prefix) => {
    const segs = [...prefix];
    if (tokens[k]?.t === "::") k++; // leading `::`: an external crate
    while (k < tokens.length) {
      const tok = tokens[k];
      if (tok.t === "punct" && tok.v === "$" && tokens[k + 1]?.v === "crate") {
        k++;
        continue;
      }
      if (tok.t === "ident" && tok.v !== "as") {
        segs.push(tok.v);
        k++;
        if (tokens[k]?.t === "::") {
          k++;
          continue;
        }
        if (tokens[k]?.v === "as") {
          out.push({ segs, alias: tokens[k + 1].v, line: tok.line });
          k += 2;
        } else out.push({ segs, line: tok.line });
        return;
      }
      if (tok.v === "*") {
        out.push({ segs, glob: true, line: tok.line });
        k++;
        return;
      }
      if (tok.v === "{") {
        k++;
        while (k < tokens.length && tokens[k].v !== "}") {
          if (tokens[k].v === ",") {
            k++;
            continue;
          }
          tree(segs);
        }
        k++;
        return;
      }
      k++; // anything else (a macro's `$name`...) is no path this graph reads
      return;
    }
  };
  tree([]);
  while (k < tokens.length && tokens[k].v !== ";") k++;
  return { paths: out, end: k + 1 };
}

/** Reads one file: its `use` paths and the paths in its code, each with the inline module
 * it sits in (`mod x { … }` in the file), and its `#[cfg(test)] mod x;` names. */
function readFile(file) {
  const { tokens, testMods, whole } = withoutTests(tokenize(readFileSync(file, "utf8")));
  const uses = [];
  const paths = [];
  const inline = []; // the inline modules around the token: { name }
  const closes = new Set(); // token indexes of the `}` closing an inline module
  for (let k = 0; k < tokens.length; k++) {
    const tok = tokens[k];
    if (closes.has(k)) inline.pop();
    const scope = inline.map((m) => m.name);
    if (tok.t === "ident" && tok.v === "mod" && tokens[k + 1]?.t === "ident" && tokens[k + 2]?.v === "{") {
      const end = skipGroup(tokens, k + 2) - 1;
      closes.add(end);
      inline.push({ name: tokens[k + 1].v });
      k += 2;
      continue;
    }
    if (tok.t === "ident" && tok.v === "use") {
      const { paths: ps, end } = parseUse(tokens, k + 1);
      for (const p of ps) uses.push({ ...p, scope });
      // Inline-module closes inside a use tree cannot happen; skip the tree.
      k = end - 1;
      continue;
    }
    // A path in code: starts at an ident not preceded by `::` or `.`, followed by `::`.
    // (Not the path of a visibility, `pub(in crate::x)`: it names where an item is seen.)
    const visibility = tokens[k - 1]?.v === "in" && tokens[k - 2]?.v === "(" && tokens[k - 3]?.v === "pub";
    if (tok.t === "ident" && tokens[k + 1]?.t === "::" && tokens[k - 1]?.t !== "::" && tokens[k - 1]?.v !== "." && !visibility) {
      const segs = [tok.v];
      let j = k + 1;
      while (tokens[j]?.t === "::" && tokens[j + 1]?.t === "ident") {
        segs.push(tokens[j + 1].v);
        j += 2;
      }
      paths.push({ segs, line: tok.line, scope });
      k = j - 1;
    }
  }
  return { uses, paths, testMods, whole };
}

/** The graph of the crate in `srcDir`. Returns { modules, edges }, where each edge is
 * { from, to, file, line, text } between module paths ("" the root, "a/b"). */
export function crateGraph(srcDir) {
  const modules = moduleTree(srcDir);
  const read = new Map();
  // Test-only files: `#[cfg(test)] mod x;` in their parent, or `#![cfg(test)]`.
  const testOnly = new Set();
  for (const [key, node] of modules) {
    const info = readFile(node.file);
    read.set(key, info);
    if (info.whole) testOnly.add(key);
    for (const name of info.testMods) testOnly.add([...node.path, name].join("/"));
  }
  const isTest = (key) => [...testOnly].some((t) => key === t || key.startsWith(t + "/"));
  for (const key of [...modules.keys()]) if (isTest(key)) modules.delete(key), read.delete(key);
  for (const node of modules.values()) node.children = node.children.filter((c) => modules.has([...node.path, c].join("/")));

  /** Absolute segments of `segs` written in module `path` (inside inline modules
   * `scope`), or null for another crate's path. */
  const absolute = (path, scope, segs) => {
    let base = [...path, ...scope];
    let rest = segs;
    if (rest[0] === "crate") return [...rest.slice(1)];
    if (rest[0] === "self") return [...base, ...rest.slice(1)];
    if (rest[0] === "super") {
      while (rest[0] === "super") {
        base = base.slice(0, -1);
        rest = rest.slice(1);
      }
      return [...base, ...rest];
    }
    // A bare name: a child module of the file's module (inline modules have none here).
    const node = modules.get(path.join("/"));
    if (scope.length === 0 && node?.children.includes(rest[0])) return [...path, ...rest];
    return null;
  };

  // Each module's `use` bindings: name → absolute target segments.
  const bindings = new Map();
  for (const [key, node] of modules) {
    const map = new Map();
    for (const u of read.get(key).uses) {
      if (u.glob || u.scope.length) continue;
      const abs = absolute(node.path, [], u.segs);
      if (!abs) continue;
      let target = abs;
      let name = u.alias ?? u.segs.at(-1);
      if (u.segs.at(-1) === "self") {
        target = abs.slice(0, -1);
        name = u.alias ?? u.segs.at(-2);
      }
      if (name && name !== "_" && !map.has(name)) map.set(name, target);
    }
    bindings.set(key, map);
  }

  /** The module a path (absolute segments) names: the deepest module on it, and through
   * a root's re-export of its own descendants (the crate root: of anything). */
  const resolve = (segs, seen = new Set()) => {
    let depth = 0;
    while (depth < segs.length && modules.has(segs.slice(0, depth + 1).join("/"))) depth++;
    const mod = segs.slice(0, depth);
    const key = mod.join("/");
    const rest = segs.slice(depth);
    if (rest.length === 0) return key;
    const node = modules.get(key);
    const target = bindings.get(key)?.get(rest[0]);
    const facade = node.children.length > 0 || key === "";
    if (target && facade && !seen.has(segs.join("::"))) {
      const inside = key === "" || target.slice(0, mod.length).join("/") === key;
      if (inside) return resolve([...target, ...rest.slice(1)], new Set([...seen, segs.join("::")]));
    }
    return key;
  };

  const edges = [];
  for (const [key, node] of modules) {
    const info = read.get(key);
    const add = (segs, scope, line, isUse) => {
      const abs = absolute(node.path, scope, segs);
      if (!abs) return;
      // `use crate::x::{self}` names x; a `use` of a module's items names that module.
      const clean = abs.at(-1) === "self" ? abs.slice(0, -1) : abs;
      const to = resolve(clean);
      if (to === key) return;
      // A path to an ancestor's own item (`super::f`, `use super::*`) is an edge to it.
      edges.push({ from: key, to, file: node.file, line, text: (isUse ? "use " : "") + segs.join("::") });
    };
    for (const u of info.uses) add(u.segs, u.scope, u.line, true);
    for (const p of info.paths) add(p.segs, p.scope, p.line, false);
  }
  return { modules, edges };
}

/** The graph one level inside the folder module `folder` ("" the crate): nodes are the
 * folder's own root and each child (its whole subtree); edges between distinct nodes,
 * each with the first place it was seen. */
export function levelGraph({ modules, edges }, folder) {
  const prefix = folder === "" ? [] : folder.split("/");
  const rootFile = modules.get(folder).file;
  const rootName = folder === "" ? basename(rootFile) : basename(rootFile) === "mod.rs" ? `${folder}/mod.rs` : `${folder}.rs`;
  const nodeOf = (key) => {
    const segs = key === "" ? [] : key.split("/");
    if (segs.slice(0, prefix.length).join("/") !== prefix.join("/")) return null;
    // The folder's own root is named by its file: lib.rs, x/mod.rs or x.rs.
    if (segs.length === prefix.length) return rootName;
    return [...prefix, segs[prefix.length]].join("/");
  };
  const graph = new Map();
  const nodes = new Set([nodeOf(folder)]);
  for (const child of modules.get(folder).children) nodes.add(nodeOf([...prefix, child].join("/")));
  for (const e of edges) {
    const a = nodeOf(e.from);
    const b = nodeOf(e.to);
    if (!a || !b || a === b) continue;
    if (!graph.has(a)) graph.set(a, new Map());
    if (!graph.get(a).has(b)) graph.get(a).set(b, e);
  }
  return { nodes: [...nodes], graph };
}

/** Every cycle's strongly connected component, each with one shortest cycle spelled out. */
export function cycles({ nodes, graph }) {
  // Tarjan's algorithm.
  let index = 0;
  const idx = new Map();
  const low = new Map();
  const stack = [];
  const on = new Set();
  const sccs = [];
  const strong = (v) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of [...(graph.get(v)?.keys() ?? [])].sort()) {
      if (!idx.has(w)) {
        strong(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
    }
    if (low.get(v) === idx.get(v)) {
      const scc = [];
      let w;
      do {
        w = stack.pop();
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1) sccs.push(scc.sort());
    }
  };
  const all = new Set([...nodes, ...graph.keys()]);
  for (const v of [...all].sort()) if (!idx.has(v)) strong(v);
  return sccs.map((members) => {
    // The shortest cycle through the first member, by breadth-first search inside the SCC.
    const start = members[0];
    const inside = new Set(members);
    const prev = new Map([[start, null]]);
    const queue = [start];
    let last = null;
    while (queue.length && !last) {
      const v = queue.shift();
      for (const w of [...(graph.get(v)?.keys() ?? [])].sort()) {
        if (!inside.has(w)) continue;
        if (w === start) {
          last = v;
          break;
        }
        if (!prev.has(w)) {
          prev.set(w, v);
          queue.push(w);
        }
      }
    }
    const path = [];
    for (let v = last; v !== null; v = prev.get(v)) path.unshift(v);
    path.push(start);
    const steps = path.slice(0, -1).map((v, i) => ({ from: v, to: path[i + 1], edge: graph.get(v).get(path[i + 1]) }));
    // Every edge inside the circle: what breaking it means.
    const within = members.flatMap((v) =>
      [...(graph.get(v) ?? [])].filter(([w]) => inside.has(w)).map(([w, edge]) => ({ from: v, to: w, edge })),
    );
    return { members, path, steps, within };
  });
}

/** Every folder module of the crate (the root first): the levels to check. */
export function folders({ modules }) {
  return [...modules.values()].filter((m) => m.children.length > 0).map((m) => m.path.join("/"));
}

/** Text for a failure: each cycle as a → b → … → a, and where each step is written. */
export function describe(found, root) {
  const step = ({ from, to, edge }) => `    ${from} → ${to}: ${relative(root, edge.file)}:${edge.line} \`${edge.text}\``;
  return found
    .map(({ members, path, steps, within }) => {
      const lines = [`  cycle: ${path.join(" → ")}`, ...steps.map(step)];
      if (members.length > path.length - 1) {
        lines.push(`  one circle with ${members.join(", ")}; every edge inside it (first place each is written):`);
        lines.push(...within.map(step));
      }
      return lines.join("\n");
    })
    .join("\n");
}

/** Every cycle of the crate at `srcDir`, at every level: [{ level, found }]. */
export function crateCycles(srcDir) {
  const graph = crateGraph(srcDir);
  return folders(graph)
    .map((folder) => ({ level: folder === "" ? "(top level)" : `${folder}/`, found: cycles(levelGraph(graph, folder)) }))
    .filter((l) => l.found.length > 0);
}

/** The layer lists in a Markdown text (ARCHITECTURE.md): each fenced block whose info
 * string is `layers <crate src dir>`, one layer a line from the bottom up, the modules of
 * a layer on its line separated by spaces (`base/` or `base`; `#` starts a comment).
 * Returns [{ crate, layers: [[name, …], …] }]. */
export function layerLists(markdown) {
  const lists = [];
  for (const m of markdown.matchAll(/^```layers[ \t]+(\S+)[ \t]*\n([\s\S]*?)^```/gm)) {
    const layers = m[2]
      .split("\n")
      .map((line) => line.replace(/#.*/, "").trim())
      .filter(Boolean)
      .map((line) => line.split(/\s+/).map((name) => name.replace(/\/$/, "").replace(/\.rs$/, "")));
    lists.push({ crate: m[1], layers });
  }
  return lists;
}

/** What the top level of `graph` breaks of `layers` (bottom first): a module the list
 * does not name or names twice, a name that is no module, and every edge to a module of
 * the same layer or one above (the crate root may import anything, and nothing may
 * import it). */
export function layerBreaks(graph, layers) {
  const level = new Map();
  const problems = [];
  layers.forEach((names, i) => {
    for (const name of names) {
      if (level.has(name)) problems.push(`${name} is listed twice`);
      level.set(name, i);
    }
  });
  const top = graph.modules.get("").children;
  for (const name of top) if (!level.has(name)) problems.push(`${name} is in no layer`);
  for (const name of level.keys()) if (!top.includes(name)) problems.push(`${name} is listed but is no module`);
  const seen = new Set();
  for (const e of graph.edges) {
    const a = e.from.split("/")[0];
    const b = e.to.split("/")[0];
    if (a === b || a === "" || seen.has(`${a}→${b}`)) continue;
    if (b === "" || (level.has(a) && level.has(b) && level.get(b) >= level.get(a))) {
      seen.add(`${a}→${b}`);
      const why = b === "" ? "the crate root" : level.get(b) === level.get(a) ? "the same layer" : "a layer above";
      problems.push(`${a} → ${b || "lib.rs"} (${why}): ${e.file}:${e.line} \`${e.text}\``);
    }
  }
  return problems;
}
