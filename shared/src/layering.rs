//! The module graph's layers, checked from the source (STYLE.md rule 18): a top-level module of
//! `shared/src` may use (`crate::…`) modules of its own layer and of the layers below, never one
//! above, and modules of one layer never import each other in a cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Every top-level module and its layer, lowest first.
const LAYERS: &[(&str, u8)] = &[
    // The pure domain.
    ("domain", 0),
    // The port traits the use cases call, and Stripe's vocabulary (objects, parameters, errors,
    // idempotency keys) that the Stripe port speaks.
    ("ports", 1),
    ("stripe", 1),
    // Adapters (the Stripe HTTP client among them), typed config, time, and the helpers the use
    // cases share.
    ("adapters", 2),
    ("config", 2),
    ("time", 2),
    ("auth", 2),
    ("http", 2),
    ("telemetry", 2),
    ("effects", 2),
    ("subscription_state", 2),
    // The use cases.
    ("webhook", 3),
    ("sync", 3),
    ("service", 3),
    ("outbox", 3),
    // The composition root.
    ("wiring", 4),
];

/// Importing module → imported module → where (`file:line`).
type Graph = BTreeMap<String, BTreeMap<String, Vec<String>>>;

/// The top-level modules that `source` names after `crate::` (in `use` lines, inline paths and
/// `crate::{a, b}` groups), comments left out.
fn imports(source: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (index, line) in source.lines().enumerate() {
        let code = line.split("//").next().unwrap_or_default();
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let names = match rest.strip_prefix('{') {
                Some(group) => group.split('}').next().unwrap_or_default(),
                None => rest,
            };
            for name in names.split(',') {
                let name: String = name
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    found.push((index + 1, name));
                }
            }
        }
    }
    found
}

/// The `.rs` files under `dir`, recursively.
fn rust_files(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("shared/src is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, files);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
}

/// The import graph of `shared/src`'s top-level modules, from the files on disk.
fn source_graph() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph = Graph::new();
    for file in files {
        let relative = file.strip_prefix(&src).expect("under src");
        let first = relative.components().next().expect("a path");
        let module = first
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        if module == "lib" || module == "layering" {
            continue;
        }
        let source = std::fs::read_to_string(&file).expect("a readable source file");
        let edges = graph.entry(module.clone()).or_default();
        for (line, imported) in imports(&source) {
            if imported != module {
                let at = format!("{}:{line}", relative.display());
                edges.entry(imported).or_default().push(at);
            }
        }
    }
    graph
}

fn layer(module: &str) -> Option<u8> {
    LAYERS
        .iter()
        .find(|(name, _)| *name == module)
        .map(|(_, layer)| *layer)
}

/// Every import of a higher layer, as `from → to (file:line)`.
fn upward_imports(graph: &Graph) -> Vec<String> {
    let mut found = Vec::new();
    for (from, edges) in graph {
        for (to, places) in edges {
            let upward = match (layer(from), layer(to)) {
                (Some(lower), Some(higher)) => higher > lower,
                _ => false,
            };
            if upward {
                found.push(format!("{from} → {to} ({})", places.join(", ")));
            }
        }
    }
    found
}

/// A cycle among the graph's imports, as `a → b → a`.
fn cycle(graph: &Graph) -> Option<String> {
    fn visit(
        graph: &Graph,
        module: &str,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<String> {
        if let Some(start) = path.iter().position(|m| m == module) {
            let mut cycle = path[start..].to_vec();
            cycle.push(module.to_string());
            return Some(cycle.join(" → "));
        }
        if done.contains(module) {
            return None;
        }
        path.push(module.to_string());
        for to in graph.get(module).into_iter().flat_map(|edges| edges.keys()) {
            if let Some(found) = visit(graph, to, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(module.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|module| visit(graph, module, &mut Vec::new(), &mut done))
}

#[test]
fn every_module_has_a_layer() {
    let unplaced: Vec<_> = source_graph()
        .into_keys()
        .filter(|m| layer(m).is_none())
        .collect();
    assert!(
        unplaced.is_empty(),
        "give these modules a layer in LAYERS: {unplaced:?}"
    );
}

#[test]
fn no_module_imports_a_higher_layer() {
    let upward = upward_imports(&source_graph());
    assert!(
        upward.is_empty(),
        "imports of a higher layer:\n{}",
        upward.join("\n")
    );
}

#[test]
fn the_modules_import_each_other_in_no_cycle() {
    assert_eq!(cycle(&source_graph()), None);
}

#[test]
fn the_old_config_to_webhook_import_is_refused() {
    let mut graph = source_graph();
    let old_line = "crate::webhook::signature::DEFAULT_TOLERANCE_SECONDS,";
    for (_, imported) in imports(old_line) {
        let edges = graph.entry("config".into()).or_default();
        edges.entry(imported).or_default().push("config.rs".into());
    }
    assert_eq!(upward_imports(&graph), ["config → webhook (config.rs)"]);
    assert_eq!(cycle(&graph), Some("config → webhook → config".into()));
}

#[test]
fn imports_are_read_from_paths_and_groups_but_not_comments() {
    let cases: &[(&str, &[&str])] = &[
        ("use crate::domain::profile::Profile;", &["domain"]),
        ("    let t = crate::time::now();", &["time"]),
        ("use crate::{ports::Clock, stripe};", &["ports", "stripe"]),
        ("let a = crate::http::x(crate::auth::y);", &["http", "auth"]),
        ("// see crate::wiring", &[]),
        ("/// [`crate::outbox`]", &[]),
        ("use super::Thing;", &[]),
    ];
    for (source, expected) in cases {
        let names: Vec<String> = imports(source).into_iter().map(|(_, name)| name).collect();
        assert_eq!(names, *expected, "{source}");
    }
}

/// What only an adapter or the composition root may touch: the environment, files, the clock of
/// the machine, the network and the runtime.
const IO_PATHS: &[&str] = &[
    "std::env",
    "std::fs",
    "std::net",
    "SystemTime",
    "tokio::",
    "reqwest::",
    "aws_sdk_",
];

/// The I/O paths `source` names outside comments and its test module, as `path (line)`.
fn io_uses(source: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (index, line) in source.lines().enumerate() {
        if line.trim_start().starts_with("#[cfg(test)]") {
            break;
        }
        let code = line.split("//").next().unwrap_or_default();
        for path in IO_PATHS.iter().filter(|path| code.contains(*path)) {
            found.push(format!("{path} (line {})", index + 1));
        }
    }
    found
}

#[test]
fn the_domain_does_no_io() {
    let domain = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/domain");
    let mut files = Vec::new();
    rust_files(&domain, &mut files);
    let mut found = Vec::new();
    for file in files {
        let source = std::fs::read_to_string(&file).expect("a readable source file");
        for at in io_uses(&source) {
            found.push(format!("{}: {at}", file.display()));
        }
    }
    assert!(found.is_empty(), "I/O in the domain:\n{}", found.join("\n"));
}

#[test]
fn io_is_found_in_code_but_not_in_comments_or_tests() {
    let source = "use std::fs;\n// std::env\nlet t = SystemTime::now();\n#[cfg(test)]\nmod tests { std::env::var(\"X\"); }";
    assert_eq!(io_uses(source), ["std::fs (line 1)", "SystemTime (line 3)"]);
    let old_catalog = "        match std::env::var(\"CATALOG_FILE\").ok() {";
    assert_eq!(io_uses(old_catalog), ["std::env (line 1)"]);
}
