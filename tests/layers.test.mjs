// No import cycle among the modules of core (`core/src`) or of the worker (`worker/src`),
// at the top level (each top-level file or folder one node, the crate root `lib.rs` one
// more) nor inside any folder (its `mod.rs` and each of its files and sub-folders), so
// the layering ARCHITECTURE.md describes stays true without anyone looking. What counts
// as an edge is written at the top of tests/layers.mjs: every `use` and every
// `crate::`/`super::`/`self::` path outside `#[cfg(test)]` items, comments and strings.
// A failure names the cycle and where each of its steps is written.
//
// No build needed: it reads the source. SCOPIEN_LAYERS_ROOT=<dir> checks another copy
// of the repository (how the checker itself was tried on a deliberate cycle).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, readFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { crateCycles, crateGraph, describe, layerLists, layerBreaks } from "./layers.mjs";

const ROOT = process.env.SCOPIEN_LAYERS_ROOT ?? join(dirname(fileURLToPath(import.meta.url)), "..");

for (const crate of ["core/src", "worker/src"]) {
  test(`no import cycle in ${crate}, at the top level or inside any folder`, () => {
    const found = crateCycles(join(ROOT, crate));
    const text = found.map(({ level, found: f }) => `${crate} ${level}:\n${describe(f, ROOT)}`).join("\n");
    assert.equal(found.length, 0, `import cycles:\n${text}`);
  });
}

// The layers ARCHITECTURE.md lists, if it lists them: a fenced block per crate,
//   ```layers core/src
//   base                  # bottom
//   key ids
//   keys oauth sessions   # one layer: these never import one another
//   ```
// each top-level module in exactly one layer, importing only layers below its own.
const architecture = join(ROOT, "ARCHITECTURE.md");
const lists = existsSync(architecture) ? layerLists(readFileSync(architecture, "utf8")) : [];
test("each crate's modules import only the layers below their own, as ARCHITECTURE.md lists them", { skip: lists.length === 0 && "ARCHITECTURE.md lists no layers (a ```layers <crate>/src block)" }, () => {
  for (const { crate, layers } of lists) {
    const problems = layerBreaks(crateGraph(join(ROOT, crate)), layers).map((p) => p.replace(ROOT + "/", ""));
    assert.deepEqual(problems, [], `${crate} against ARCHITECTURE.md's layers:\n  ${problems.join("\n  ")}`);
  }
});

// The checker on small crates made for it: a test that cannot fail proves nothing.

/** A crate in a temporary folder: `files` maps paths under src/ to their text. */
function fixture(files) {
  const dir = mkdtempSync(join(tmpdir(), "layers-"));
  for (const [path, text] of Object.entries({ "lib.rs": "", ...files })) {
    mkdirSync(dirname(join(dir, "src", path)), { recursive: true });
    writeFileSync(join(dir, "src", path), text);
  }
  return { src: join(dir, "src"), dir, done: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The cycles of a fixture crate as "level: a → b → a" lines. */
function cyclesOf(files) {
  const crate = fixture(files);
  try {
    return crateCycles(crate.src).flatMap(({ level, found }) => found.map((c) => `${level}: ${c.path.join(" → ")}`));
  } finally {
    crate.done();
  }
}

/** The edges of a fixture crate as "from → to" (deduplicated, sorted). */
function edgesOf(files) {
  const crate = fixture(files);
  try {
    return [...new Set(crateGraph(crate.src).edges.map((e) => `${e.from || "lib.rs"} → ${e.to || "lib.rs"}`))].sort();
  } finally {
    crate.done();
  }
}

const LIB = "mod a;\nmod b;\nmod c;\n";

test("checker: a cycle of flat files, through a use and through a path in code", () => {
  assert.deepEqual(
    cyclesOf({ "lib.rs": LIB, "a.rs": "use crate::b::B;\n", "b.rs": "pub struct B;\nfn f() { crate::c::g(); }\n", "c.rs": "pub fn g() { let _ = crate::a::A; }\npub struct A;\n" }),
    ["(top level): a → b → c → a"],
  );
  assert.deepEqual(cyclesOf({ "lib.rs": LIB, "a.rs": "use crate::b::B;\n", "b.rs": "pub struct B;\n", "c.rs": "" }), []);
});

test("checker: the failure spells out each step and where it is written", () => {
  const crate = fixture({ "lib.rs": LIB, "a.rs": "use crate::{b::{self, B}};\n", "b.rs": "pub struct B;\n\nfn f() { super::a::g() }\n", "c.rs": "" });
  try {
    const [{ level, found }] = crateCycles(crate.src);
    assert.equal(level, "(top level)");
    const text = describe(found, crate.dir);
    assert.match(text, /cycle: a → b → a/);
    assert.match(text, /a → b: src\/a\.rs:1 `use crate::b::self`/);
    assert.match(text, /b → a: src\/b\.rs:3 `super::a::g`/);
  } finally {
    crate.done();
  }
});

test("checker: a pub use re-export is an edge like any use", () => {
  assert.deepEqual(cyclesOf({ "lib.rs": LIB, "a.rs": "pub use crate::b::B;\n", "b.rs": "pub struct B;\npub(crate) use crate::a::*;\n", "c.rs": "" }), [
    "(top level): a → b → a",
  ]);
});

test("checker: test modules, comments and strings are not edges", () => {
  const files = {
    "lib.rs": LIB,
    "a.rs": "use crate::b::B;\n",
    "b.rs": [
      "pub struct B; // crate::a::A",
      "/* crate::a::A /* nested */ crate::a::A */",
      'const S: &str = "crate::a::A"; const R: &str = r#"use crate::a::A;"#;',
      "fn f<'a>(x: &'a str) -> char { let _ = b'\"'; '\"' }",
      "#[cfg(test)]\nfn helper() { crate::a::f() }",
      "#[cfg(test)]\n#[allow(unused)]\nmod tests {\n    use crate::a::*;\n    use super::*;\n}",
      "#[cfg(test)]\nmod more;",
    ].join("\n"),
    "b/more.rs": "use crate::a::A;\n",
    "c.rs": "",
  };
  assert.deepEqual(cyclesOf(files), []);
  assert.deepEqual(edgesOf(files), ["a → b"]);
});

test("checker: folders with mod.rs or x.rs, a facade's re-exports followed, pub(in …) no edge, and cycles inside a folder", () => {
  const nested = {
    "lib.rs": "mod base;\nmod check;\nmod keys;\npub use check::Admitted;\n",
    "base/mod.rs": "mod text;\nmod time;\npub use self::time::Timestamp;\npub use text::check_label;\n",
    "base/text.rs": "pub(in crate::base) fn check_label() {}\n",
    "base/time.rs": "pub struct Timestamp;\nfn f() { super::check_label() }\n",
    "check.rs": "mod admit;\nmod refusal;\npub use admit::Admitted;\n",
    "check/admit.rs": "use super::refusal::Refusal;\nuse crate::base::Timestamp;\npub struct Admitted;\n",
    "check/refusal.rs": "pub struct Refusal;\n",
    "keys/mod.rs": "mod record;\n",
    "keys/record.rs": "use crate::Admitted;\nuse crate::base::{self, Timestamp};\n",
  };
  assert.deepEqual(edgesOf(nested), [
    "base → base/text",
    "base → base/time",
    "base/time → base/text",
    "check → check/admit",
    "check/admit → base/time",
    "check/admit → check/refusal",
    "keys/record → base",
    "keys/record → base/time",
    "keys/record → check/admit",
    "lib.rs → check/admit",
  ]);
  assert.deepEqual(cyclesOf(nested), []);
  // keys/record → check/admit (through the root's re-export), check/admit → keys: a
  // cycle between two folders, at the top level.
  assert.deepEqual(cyclesOf({ ...nested, "check/admit.rs": nested["check/admit.rs"] + "fn f() { crate::keys::g() }\n", "keys/mod.rs": "mod record;\npub fn g() {}\n" }), [
    "(top level): check → keys → check",
  ]);
  // Inside base/: text → time → text (the facade's re-export followed to time).
  assert.deepEqual(cyclesOf({ ...nested, "base/text.rs": "use super::Timestamp;\npub fn check_label() {}\n" }), ["base/: base/text → base/time → base/text"]);
  // A folder's root and one of its files: mod.rs uses text, text uses mod.rs's own item.
  assert.deepEqual(cyclesOf({ ...nested, "base/text.rs": "pub fn check_label() { super::own() }\n", "base/mod.rs": nested["base/mod.rs"] + "pub fn own() {}\n" }), [
    "base/: base/mod.rs → base/text → base/mod.rs",
  ]);
});

test("checker: the crate root is a node: lib.rs calling a module that calls back into lib.rs", () => {
  assert.deepEqual(cyclesOf({ "lib.rs": "mod a;\npub fn now() {}\nfn entry() { a::handle() }\n", "a.rs": "pub fn handle() { crate::now() }\n" }), [
    "(top level): a → lib.rs → a",
  ]);
});

test("checker: a layer list is read from Markdown, and an import upward or sideways breaks it", () => {
  const [list] = layerLists("# Layers\n\n```layers x/src\nbase/   # bottom\nkeys oauth\ncheck.rs\n```\n");
  assert.deepEqual(list, { crate: "x/src", layers: [["base"], ["keys", "oauth"], ["check"]] });
  const crate = fixture({
    "lib.rs": "mod base;\nmod check;\nmod keys;\nmod oauth;\nmod extra;\n",
    "base.rs": "fn f() { crate::check::g() }\n",
    "check.rs": "use crate::keys::K;\npub fn g() {}\n",
    "keys.rs": "use crate::oauth::T;\npub struct K;\nfn f() { crate::now() }\n",
    "oauth.rs": "use crate::base::*;\npub struct T;\n",
    "extra.rs": "",
  });
  try {
    const problems = layerBreaks(crateGraph(crate.src), [...list.layers, ["gone"]]).map((p) => p.replace(crate.dir + "/", ""));
    assert.deepEqual(problems, [
      "extra is in no layer",
      "gone is listed but is no module",
      "base → check (a layer above): src/base.rs:1 `crate::check::g`",
      "keys → oauth (the same layer): src/keys.rs:1 `use crate::oauth::T`",
      "keys → lib.rs (the crate root): src/keys.rs:3 `crate::now`",
    ]);
  } finally {
    crate.done();
  }
});
