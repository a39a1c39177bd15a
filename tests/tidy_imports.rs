//! The import rules ARCHITECTURE.md states, checked on the sources: the
//! top-level modules import each other without a cycle, the leaves import
//! nothing from the crate, no stage reaches the whole `Config`, `eval` never
//! depends on `printer`, `actions` or `web`, and `decision` stays pure.
//!
//! Every `crate::…` and `super::…` path in `src/**/*.rs` is an edge, test
//! modules included (comments and string literals are skipped). Run with
//! `cargo test --release --test tidy_imports -- --nocapture` to see the graph.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Modules that import nothing from the crate, so anything may import them.
const LEAVES: &[&str] = &["domain", "config_issues", "secret", "net"];
/// The stages: each receives its own config section, never the whole `Config`.
const STAGES: &[&str] =
    &["capture", "vision", "gcode", "printer", "decision", "actions", "store", "web", "eval", "timelapse", "mqtt"];
/// All that `decision` (pure) may depend on, directly or not.
const DECISION_MAY_USE: &[&str] = &["domain", "gcode", "config_issues", "geometry"];
/// Text that means I/O, a clock or the async runtime inside `decision`.
const DECISION_FORBIDS: &[&str] = &["tokio", "std::fs", "fs::", "SystemTime", "Instant", "Timestamp::now", "rand::"];

/// One edge's evidence: `src/a/b.rs:12`.
type Sites = BTreeMap<(String, String), Vec<String>>;

#[test]
fn top_level_modules_import_one_way() {
    let (graph, sites) = module_graph();
    eprintln!("module graph (module -> what it imports):");
    for (m, to) in &graph {
        eprintln!("  {m} -> {}", to.iter().cloned().collect::<Vec<_>>().join(" "));
    }
    assert!(graph.len() > 12 && graph["app"].len() > 5, "the parser found too few edges: {graph:?}");
    if let Some(cycle) = find_cycle(&graph) {
        let steps: Vec<String> = cycle
            .windows(2)
            .map(|w| format!("  {} -> {} at {}", w[0], w[1], sites[&(w[0].clone(), w[1].clone())].join(", ")))
            .collect();
        panic!("import cycle {}:\n{}", cycle.join(" -> "), steps.join("\n"));
    }
}

#[test]
fn leaves_stay_leaves_and_stages_never_see_the_whole_config() {
    let (graph, sites) = module_graph();
    let mut problems = Vec::new();
    for leaf in LEAVES {
        for to in graph.get(*leaf).into_iter().flatten() {
            problems.push(format!("leaf {leaf} imports {to} at {:?}", sites[&(leaf.to_string(), to.clone())]));
        }
    }
    for stage in STAGES {
        if let Some(path) = path_between(&graph, stage, "config") {
            problems.push(format!("{stage} reaches config: {}", path.join(" -> ")));
        }
    }
    for banned in ["printer", "actions", "web"] {
        if let Some(path) = path_between(&graph, "eval", banned) {
            problems.push(format!("eval depends on {banned}: {}", path.join(" -> ")));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn decision_is_pure() {
    let (graph, _) = module_graph();
    let mut problems = Vec::new();
    for m in reachable(&graph, "decision") {
        if m != "decision" && !DECISION_MAY_USE.contains(&m.as_str()) {
            let path = path_between(&graph, "decision", &m).unwrap_or_default();
            problems.push(format!("decision depends on {m}: {}", path.join(" -> ")));
        }
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    // `geometry` (camera maths, expected mask) is part of what decision runs: just as pure.
    for file in rust_files(&root.join("src/decision")).into_iter().chain(rust_files(&root.join("src/geometry"))) {
        let code = strip_comments_and_strings(&std::fs::read_to_string(&file).unwrap());
        for (n, line) in code.lines().enumerate() {
            for word in DECISION_FORBIDS {
                if line.contains(word) {
                    problems.push(format!("{}:{}: {word} in decision: {}", rel(&root, &file), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn the_parser_sees_every_form_of_path() {
    let src = "use crate::{a, b::{C, d}, \n e as f};\nuse super::super::g::H; // crate::nope\n\
               fn x() { let s = \"crate::nope\"; crate::i::j(); $crate::nope; let c = '\"'; let q = '\\''; crate::k }\n\
               mod inner { use super::super::l; }";
    let found: Vec<(Vec<String>, usize)> = paths(&strip_comments_and_strings(src), &["m".into(), "n".into()]);
    let shown: Vec<String> = found.iter().map(|(p, line)| format!("{}@{line}", p.join("::"))).collect();
    assert_eq!(shown, ["a@1", "b@1", "e@2", "g@3", "i@4", "k@4", "m::l@5"]);
}

/// `module -> modules it imports`, and where each edge is written.
fn module_graph() -> (BTreeMap<String, BTreeSet<String>>, Sites) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let src = root.join("src");
    let files = rust_files(&src);
    let tops: BTreeSet<String> = files
        .iter()
        .map(|f| module_path(&src, f)[0].clone())
        .filter(|m| m != "main" && m != "lib")
        .collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = tops.iter().map(|m| (m.clone(), BTreeSet::new())).collect();
    let mut sites = Sites::new();
    for file in &files {
        let here = module_path(&src, file);
        let from = &here[0];
        if !tops.contains(from) {
            continue;
        }
        let code = strip_comments_and_strings(&std::fs::read_to_string(file).unwrap());
        for (target, line) in paths(&code, &here) {
            let Some(to) = target.first() else { continue };
            if to != from && tops.contains(to) {
                graph.get_mut(from).unwrap().insert(to.clone());
                sites.entry((from.clone(), to.clone())).or_default().push(format!("{}:{line}", rel(&root, file)));
            }
        }
    }
    (graph, sites)
}

/// `src/a/b/mod.rs` → `[a, b]`; `src/a/b.rs` → `[a, b]`.
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if parts.len() > 1 && parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// Every `crate::…` and `super::…` path in `code`, resolved to a path from the
/// crate root, with its line. `here` is the file's module path; inline `mod x {`
/// blocks extend it. A `crate::{a, b}` group yields `a` and `b`.
fn paths(code: &str, here: &[String]) -> Vec<(Vec<String>, usize)> {
    let toks = tokens(code);
    let mut out = Vec::new();
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < toks.len() {
        let (t, line) = (toks[i].0.as_str(), toks[i].1);
        match t {
            "{" => depth += 1,
            "}" => {
                depth = depth.saturating_sub(1);
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
            }
            "mod" if toks.get(i + 2).is_some_and(|t| t.0 == "{") => {
                inline.push((toks[i + 1].0.clone(), depth));
                depth += 1;
                i += 3;
                continue;
            }
            "crate" | "super" if toks.get(i + 1).is_some_and(|t| t.0 == "::") && !prev_is(&toks, i, "$") => {
                let mut base: Vec<String> = if t == "crate" {
                    Vec::new()
                } else {
                    here.iter().cloned().chain(inline.iter().map(|(m, _)| m.clone())).collect()
                };
                let mut j = i;
                while toks.get(j).is_some_and(|t| t.0 == "super") && toks.get(j + 1).is_some_and(|t| t.0 == "::") {
                    base.pop();
                    j += 2;
                }
                if t == "crate" {
                    j = i + 2;
                }
                match toks.get(j).map(|t| t.0.as_str()) {
                    Some("{") => {
                        let mut level = 0;
                        let mut expect_item = true;
                        for (tok, l) in &toks[j..] {
                            match tok.as_str() {
                                "{" => level += 1,
                                "}" => {
                                    level -= 1;
                                    if level == 0 {
                                        break;
                                    }
                                }
                                "," if level == 1 => expect_item = true,
                                w if level == 1 && expect_item && is_ident(w) => {
                                    out.push((base.iter().cloned().chain([w.to_string()]).collect(), *l));
                                    expect_item = false;
                                }
                                _ => {}
                            }
                        }
                    }
                    Some(w) if is_ident(w) => out.push((base.iter().cloned().chain([w.to_string()]).collect(), line)),
                    _ => {}
                }
                i = j;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

fn prev_is(toks: &[(String, usize)], i: usize, what: &str) -> bool {
    i > 0 && toks[i - 1].0 == what
}

fn is_ident(w: &str) -> bool {
    w.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_') && w != "self" && w != "super"
}

/// Identifiers, `::`, and single punctuation characters, each with its line.
fn tokens(code: &str) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    let mut line = 1;
    let mut chars = code.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\n' {
            line += 1;
        } else if c.is_alphanumeric() || c == '_' {
            let mut w = c.to_string();
            while let Some(&n) = chars.peek().filter(|n| n.is_alphanumeric() || **n == '_') {
                w.push(n);
                chars.next();
            }
            out.push((w, line));
        } else if c == ':' && chars.peek() == Some(&':') {
            chars.next();
            out.push(("::".into(), line));
        } else if !c.is_whitespace() {
            out.push((c.to_string(), line));
        }
    }
    out
}

/// The code with comments, string and char literals blanked (lines kept).
fn strip_comments_and_strings(text: &str) -> String {
    let b: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |out: &mut String, s: &[char]| out.extend(s.iter().map(|&c| if c == '\n' { '\n' } else { ' ' }));
    let mut i = 0;
    while i < b.len() {
        let rest = &b[i..];
        let end = if rest.starts_with(&['/', '/']) {
            rest.iter().position(|&c| c == '\n').unwrap_or(rest.len())
        } else if rest.starts_with(&['/', '*']) {
            let mut nest = 0;
            let mut k = 0;
            while k < rest.len() {
                if rest[k..].starts_with(&['/', '*']) {
                    nest += 1;
                    k += 2;
                } else if rest[k..].starts_with(&['*', '/']) {
                    nest -= 1;
                    k += 2;
                    if nest == 0 {
                        break;
                    }
                } else {
                    k += 1;
                }
            }
            k
        } else if let Some(k) = raw_string_len(rest) {
            k
        } else if rest[0] == '"' {
            let mut k = 1;
            while k < rest.len() && rest[k] != '"' {
                k += if rest[k] == '\\' { 2 } else { 1 };
            }
            k + 1
        } else if rest[0] == '\'' && rest.get(1) == Some(&'\\') {
            3 + rest.iter().skip(3).position(|&c| c == '\'').map_or(rest.len(), |p| p + 1)
        } else if rest[0] == '\'' && rest.get(2) == Some(&'\'') {
            3
        } else {
            out.push(rest[0]);
            i += 1;
            continue;
        };
        let end = end.min(rest.len());
        blank(&mut out, &rest[..end]);
        i += end;
    }
    out
}

/// `r"…"`, `r#"…"#`, `br"…"` at the start of `s` (not inside an identifier).
fn raw_string_len(s: &[char]) -> Option<usize> {
    let start = if s.starts_with(&['b', 'r']) { 2 } else if s.first() == Some(&'r') { 1 } else { return None };
    let hashes = s[start..].iter().take_while(|&&c| c == '#').count();
    if s.get(start + hashes) != Some(&'"') {
        return None;
    }
    let close: Vec<char> = std::iter::once('"').chain(std::iter::repeat_n('#', hashes)).collect();
    let body = start + hashes + 1;
    (body..s.len()).find(|&k| s[k..].starts_with(&close)).map(|k| k + close.len())
}

fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        m: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|s| s == m) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(m.to_string());
            return Some(cycle);
        }
        if !done.insert(m.to_string()) {
            return None;
        }
        stack.push(m.to_string());
        for to in graph.get(m).into_iter().flatten() {
            if let Some(c) = visit(to, graph, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|m| visit(m, graph, &mut Vec::new(), &mut done))
}

fn reachable(graph: &BTreeMap<String, BTreeSet<String>>, from: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::from([from.to_string()]);
    let mut todo = vec![from.to_string()];
    while let Some(m) = todo.pop() {
        for to in graph.get(&m).into_iter().flatten() {
            if seen.insert(to.clone()) {
                todo.push(to.clone());
            }
        }
    }
    seen
}

/// The shortest import path `from -> … -> to`, if there is one.
fn path_between(graph: &BTreeMap<String, BTreeSet<String>>, from: &str, to: &str) -> Option<Vec<String>> {
    let mut prev: BTreeMap<String, String> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([from.to_string()]);
    while let Some(m) = queue.pop_front() {
        if m == to {
            let mut path = vec![m.clone()];
            while let Some(p) = prev.get(path.last().unwrap()) {
                path.push(p.clone());
            }
            path.reverse();
            return Some(path);
        }
        for next in graph.get(&m).into_iter().flatten() {
            if next != from && !prev.contains_key(next) {
                prev.insert(next.clone(), m.clone());
                queue.push_back(next.clone());
            }
        }
    }
    None
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn rel(root: &Path, file: &Path) -> String {
    file.strip_prefix(root).unwrap_or(file).display().to_string()
}
