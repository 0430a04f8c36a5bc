//! The crate's layers, checked from its source: which top-level modules
//! each module's non-test code names (`crate::<module>`), that they form no
//! cycle, and that the domain names nothing but itself.
//!
//! A cycle here is how a test harness or an adapter creeps into the code
//! it serves (the context once needed the API for its CORS policy, and the
//! API the context); a domain that names the store knows the table design.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("source directory") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            out.extend(sources(&path));
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
    out
}

/// The module names a file's code (before its tests, comments left out)
/// names after `crate::`, in paths or in `use crate::{a, b}` groups.
fn named_modules(source: &str) -> BTreeSet<String> {
    let code = source.split("#[cfg(test)]").next().unwrap_or_default();
    let mut out = BTreeSet::new();
    for line in code.lines().filter(|line| !line.trim_start().starts_with("//")) {
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let inner = group.split('}').next().unwrap_or_default();
                for part in inner.split(',') {
                    let name: String =
                        part.trim().chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
                    out.insert(name);
                }
            } else {
                out.insert(rest.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect());
            }
        }
    }
    out.remove("");
    out
}

/// The files a source declares as test-only modules: `mod name;` (or a
/// `#[path = "file.rs"]` one) right after `#[cfg(test)]`.
fn test_only_modules(path: &Path, source: &str) -> Vec<PathBuf> {
    let dir = path.parent().expect("a directory");
    // `a.rs` declares `a/b.rs` as `mod b;`; `mod.rs` and `lib.rs` their siblings.
    let own_dir = match path.file_stem().and_then(|stem| stem.to_str()) {
        Some("mod" | "lib") | None => dir.to_path_buf(),
        Some(stem) => dir.join(stem),
    };
    let lines: Vec<&str> = source.lines().map(str::trim).collect();
    let mut out = Vec::new();
    for (at, line) in lines.iter().enumerate() {
        if *line != "#[cfg(test)]" {
            continue;
        }
        for next in lines.iter().skip(at + 1).take(2) {
            if let Some(file) = next.strip_prefix("#[path = \"").and_then(|rest| rest.strip_suffix("\"]")) {
                out.push(dir.join(file));
                break;
            }
            if let Some(name) = next.strip_prefix("mod ").and_then(|rest| rest.strip_suffix(';')) {
                out.push(own_dir.join(format!("{name}.rs")));
                break;
            }
        }
    }
    out
}

/// Top-level module → the other top-level modules its code names.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let files = sources(&root);
    let test_only: BTreeSet<PathBuf> = files
        .iter()
        .flat_map(|path| test_only_modules(path, &std::fs::read_to_string(path).expect("readable source")))
        .collect();
    for path in files.iter().filter(|path| !test_only.contains(*path)) {
        let relative = path.strip_prefix(&root).expect("under src");
        let top = relative.components().next().expect("a component").as_os_str().to_string_lossy();
        let top = top.trim_end_matches(".rs").to_owned();
        if top == "lib" {
            continue;
        }
        let source = std::fs::read_to_string(path).expect("readable source");
        let mut named = named_modules(&source);
        named.remove(&top);
        graph.entry(top).or_default().extend(named);
    }
    let modules: BTreeSet<String> = graph.keys().cloned().collect();
    for named in graph.values_mut() {
        named.retain(|module| modules.contains(module));
    }
    graph
}

/// A cycle through `graph`, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        module: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|m| m == module) {
            let mut cycle = path[at..].to_vec();
            cycle.push(module.to_owned());
            return Some(cycle);
        }
        if done.contains(module) {
            return None;
        }
        path.push(module.to_owned());
        for next in graph.get(module).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(module.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|module| visit(module, graph, &mut Vec::new(), &mut done))
}

#[test]
fn the_modules_form_no_import_cycle() {
    let graph = module_graph();
    assert!(graph.len() > 10, "the crate's modules were found: {graph:?}");
    assert!(graph["api"].contains("context"), "the graph sees imports: {graph:?}");
    // Tests may reach across layers; they are not part of the graph.
    let dynamodb = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store/dynamodb.rs");
    let declared = test_only_modules(&dynamodb, &std::fs::read_to_string(&dynamodb).unwrap());
    assert!(declared.iter().any(|file| file.ends_with("store/dynamodb_limits_tests.rs")), "{declared:?}");
    assert_eq!(find_cycle(&graph), None, "{graph:#?}");
}

#[test]
fn the_domain_names_no_other_layer() {
    let graph = module_graph();
    assert_eq!(graph["domain"], BTreeSet::new());
    for base in ["config", "domain", "gateway", "ttl_cache"] {
        assert!(
            !graph[base].iter().any(|m| m == "store" || m == "repo" || m == "api"),
            "{base}: {:?}",
            graph[base]
        );
    }
}

#[test]
fn a_cycle_is_found_when_there_is_one() {
    let graph: BTreeMap<String, BTreeSet<String>> =
        [("a", &["b"][..]), ("b", &["c"][..]), ("c", &["a"][..]), ("d", &[][..])]
            .into_iter()
            .map(|(m, named)| (m.to_owned(), named.iter().map(|n| n.to_string()).collect()))
            .collect();
    assert_eq!(find_cycle(&graph), Some(vec!["a".into(), "b".into(), "c".into(), "a".into()]));
    let source = "use crate::{api::x, store};\n// crate::repo\nfn f() { crate::domain::g(); }\n#[cfg(test)]\nuse crate::aws;";
    assert_eq!(named_modules(source), ["api", "domain", "store"].map(String::from).into());
}
