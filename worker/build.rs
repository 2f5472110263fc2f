//! Embeds `openapi.yaml` (the contract, written for people) as compact JSON, so the
//! worker serves `/openapi.json` with no YAML parser in the wasm.

use std::{env, fs, path::PathBuf};

fn main() {
    let source = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"))
        .join("../openapi.yaml");
    println!("cargo:rerun-if-changed={}", source.display());
    let text = fs::read_to_string(&source).expect("openapi.yaml is readable");
    let document: serde_json::Value =
        serde_yaml_ng::from_str(&text).expect("openapi.yaml is valid YAML");
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets it")).join("openapi.json");
    fs::write(out, document.to_string()).expect("OUT_DIR is writable");
}
