//! The house rules, checked on the source itself so that growth cannot undo them:
//! no import circle among the modules of `harness`, `workers` and `lambda` (top-level
//! modules, and files; every `crate::`, `super::` and `self::` path is an arrow), so every
//! arrow points down a layering; and no function over 80 lines outside tests in
//! `harness`, `workers` and `lambda`. Each checker is also run on a small made-up
//! source that breaks its rule, so that a checker that sees nothing fails.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The longest a function may be, signature to closing brace.
const MAX_FUNCTION_LINES: usize = 80;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace root").to_path_buf()
}

/// A source file: its path relative to its `src`, and its text with comments, strings
/// and character literals blanked (newlines kept, so line numbers hold).
struct Source {
    rel: PathBuf,
    code: String,
}

/// Every non-test `.rs` file under `src` (files named `tests.rs`, and modules declared
/// under `#[cfg(test)]`, are tests); `skip` names top-level entries left out.
fn sources(src: &Path, skip: &[&str]) -> Vec<Source> {
    let mut files = Vec::new();
    walk(src, &mut files);
    let mut test_modules = BTreeSet::new();
    let mut out = Vec::new();
    for p in files {
        let rel = p.strip_prefix(src).unwrap().to_path_buf();
        let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()));
        let code = blank(&text);
        test_modules.extend(test_module_files(&rel, &code));
        out.push(Source { rel, code: without_tests(&code) });
    }
    out.retain(|s| {
        s.rel.file_name().is_some_and(|n| n != "tests.rs")
            && !test_modules.contains(&s.rel)
            && !skip.iter().any(|k| s.rel.starts_with(k))
    });
    out
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            walk(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Comments, string literals (raw ones too) and character literals as spaces.
fn blank(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = b.to_vec();
    let mut i = 0;
    let wipe = |out: &mut Vec<u8>, from: usize, to: usize| {
        for c in &mut out[from..to.min(b.len())] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    };
    while i < b.len() {
        let rest = &b[i..];
        let end = if rest.starts_with(b"//") {
            i + rest.iter().position(|c| *c == b'\n').unwrap_or(rest.len())
        } else if rest.starts_with(b"/*") {
            i + 2 + rest[2..].windows(2).position(|w| w == b"*/").map_or(rest.len(), |p| p + 2)
        } else if let Some(end) = raw_string_end(b, i) {
            end
        } else if rest[0] == b'"' {
            string_end(b, i + 1)
        } else if rest[0] == b'\'' {
            char_end(b, i).unwrap_or(i + 1)
        } else {
            i += 1;
            continue;
        };
        if end > i + 1 {
            wipe(&mut out, i, end);
        }
        i = end.max(i + 1);
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The end of a raw string starting at `i` (`r"`, `r#"`, `br#"`), if one starts there.
fn raw_string_end(b: &[u8], i: usize) -> Option<usize> {
    let ident_before = i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
    let start = if b[i..].starts_with(b"br") {
        i + 2
    } else if b[i] == b'r' {
        i + 1
    } else {
        return None;
    };
    if ident_before {
        return None;
    }
    let hashes = b[start..].iter().take_while(|c| **c == b'#').count();
    if b.get(start + hashes) != Some(&b'"') {
        return None;
    }
    let mut close = vec![b'"'];
    close.extend(std::iter::repeat_n(b'#', hashes));
    let body = start + hashes + 1;
    Some(b[body..].windows(close.len()).position(|w| w == close.as_slice()).map_or(b.len(), |p| body + p + close.len()))
}

fn string_end(b: &[u8], mut i: usize) -> usize {
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    b.len()
}

/// A character literal at `i` (`'x'`, `'\n'`, `'\u{..}'`), not a lifetime.
fn char_end(b: &[u8], i: usize) -> Option<usize> {
    if b.get(i + 1) == Some(&b'\\') {
        // The escaped character itself may be a quote: `'\''`.
        let close = b.get(i + 3..)?.iter().take(10).position(|c| *c == b'\'')?;
        return Some(i + 3 + close + 1);
    }
    let len =
        std::str::from_utf8(&b[i + 1..(i + 5).min(b.len())]).map_or(1, |s| s.chars().next().map_or(1, char::len_utf8));
    (b.get(i + 1 + len) == Some(&b'\'')).then_some(i + 2 + len)
}

/// The code with every `#[cfg(test)]` item (a `mod tests { .. }`, a test-only fn or
/// impl) removed, lines kept.
fn without_tests(code: &str) -> String {
    let mut out = code.to_string();
    let mut from = 0;
    while let Some(at) = out[from..].find("#[cfg(test)]").map(|p| p + from) {
        let after = at + "#[cfg(test)]".len();
        let semi = out[after..].find(';').map(|p| p + after);
        let open = out[after..].find('{').map(|p| p + after);
        let end = match (semi, open) {
            (Some(s), Some(o)) if s < o => s + 1,
            (_, Some(o)) => matching_brace(out.as_bytes(), o).map_or(out.len(), |c| c + 1),
            (Some(s), None) => s + 1,
            (None, None) => out.len(),
        };
        let blanked: String = out[at..end].chars().map(|c| if c == '\n' { '\n' } else { ' ' }).collect();
        out.replace_range(at..end, &blanked);
        from = end;
    }
    out
}

/// Files of modules declared under `#[cfg(test)]` (`#[cfg(test)] pub mod recorded;`).
fn test_module_files(rel: &Path, code: &str) -> Vec<PathBuf> {
    let own = rel.file_name().is_some_and(|n| n == "mod.rs" || n == "main.rs" || n == "lib.rs");
    let dir = if own { rel.parent().unwrap().to_path_buf() } else { rel.with_extension("") };
    let mut out = Vec::new();
    for (at, _) in code.match_indices("#[cfg(test)]") {
        let item = code[at + 12..].trim_start();
        let item = item.strip_prefix("pub ").unwrap_or(item);
        let Some(decl) = item.strip_prefix("mod ") else { continue };
        let name: String = decl.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        if decl[name.len()..].trim_start().starts_with(';') {
            out.push(dir.join(format!("{name}.rs")));
            out.push(dir.join(&name).join("mod.rs"));
        }
    }
    out
}

/// The index of the `}` closing the `{` at `open`.
fn matching_brace(b: &[u8], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in b.iter().enumerate().skip(open) {
        match c {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

fn line_of(code: &str, at: usize) -> usize {
    code[..at].bytes().filter(|c| *c == b'\n').count() + 1
}

/// Every function longer than `max` lines: (file:line, name, lines).
fn long_functions(sources: &[Source], max: usize) -> Vec<(String, String, usize)> {
    let mut found = Vec::new();
    for s in sources {
        let b = s.code.as_bytes();
        let mut from = 0;
        while let Some(at) = s.code[from..].find("fn ").map(|p| p + from) {
            from = at + 3;
            let word_start = at == 0 || !(b[at - 1].is_ascii_alphanumeric() || b[at - 1] == b'_');
            let name: String =
                s.code[at + 3..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if !word_start || name.is_empty() {
                continue;
            }
            let Some(open) = body_start(b, at + 3 + name.len()) else { continue };
            let Some(close) = matching_brace(b, open) else { continue };
            let lines = line_of(&s.code, close) - line_of(&s.code, at) + 1;
            if lines > max {
                found.push((format!("{}:{}", s.rel.display(), line_of(&s.code, at)), name, lines));
            }
        }
    }
    found
}

/// Where a function's body opens: the first `{` outside the signature's brackets, or
/// `None` for a declaration without a body (`;` first).
fn body_start(b: &[u8], from: usize) -> Option<usize> {
    let mut depth = 0i32;
    for (i, c) in b.iter().enumerate().skip(from) {
        match c {
            b'(' | b'[' | b'<' => depth += 1,
            b')' | b']' => depth -= 1,
            b'>' if i > 0 && b[i - 1] != b'-' && b[i - 1] != b'=' => depth -= 1,
            b'{' if depth <= 0 => return Some(i),
            b';' if depth <= 0 => return None,
            _ => {}
        }
    }
    None
}

/// The module a file is: `a/b.rs` and `a/b/mod.rs` are `a::b`; `lib.rs` and `main.rs`
/// are the crate itself.
fn module_of(rel: &Path) -> Vec<String> {
    let mut module: Vec<String> =
        rel.with_extension("").components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
    let root_file = module.len() == 1 && (module[0] == "lib" || module[0] == "main");
    if root_file || module.last().is_some_and(|m| m == "mod") {
        module.pop();
    }
    module
}

/// Where the next path from `crate`, `super` or `self` starts at or after `from`, and
/// which of the three it starts with (not `$crate::`, nor a segment inside a path).
fn next_rooted(code: &str, mut from: usize) -> Option<(usize, &'static str)> {
    let b = code.as_bytes();
    while let Some(colons) = code[from..].find("::").map(|p| p + from) {
        from = colons + 2;
        for word in ["crate", "super", "self"] {
            let Some(at) = colons.checked_sub(word.len()).filter(|at| &code[*at..colons] == word) else { continue };
            if at == 0 || !(b[at - 1].is_ascii_alphanumeric() || matches!(b[at - 1], b'_' | b'$' | b':')) {
                return Some((at, word));
            }
        }
    }
    None
}

/// The paths a source names from its crate's root, each as its segments, with the line
/// it is on: `crate::` paths as written, `super::` (repeated or not) and `self::` paths
/// read from the file's own module. A `{a, b::c}` group gives one path per member, and
/// `self` in a group names the module before it.
fn module_paths(rel: &Path, code: &str) -> Vec<(Vec<String>, usize)> {
    let module = module_of(rel);
    let mut out = Vec::new();
    let mut from = 0;
    while let Some((at, word)) = next_rooted(code, from) {
        from = at + word.len() + 2;
        let base = match word {
            "crate" => Vec::new(),
            "self" => module.clone(),
            _ => {
                let mut up = 1;
                while code[from..].starts_with("super::") {
                    (up, from) = (up + 1, from + 7);
                }
                let Some(keep) = module.len().checked_sub(up) else { continue };
                module[..keep].to_vec()
            }
        };
        let mut tails = expand(&code[from..]);
        if tails.is_empty() {
            tails.push(Vec::new()); // `super::*`: the module itself
        }
        for tail in tails {
            let path: Vec<String> = base.iter().cloned().chain(tail).filter(|s| s != "self").collect();
            if !path.is_empty() {
                out.push((path, line_of(code, at)));
            }
        }
    }
    out
}

/// `a::b::c`, or `{a, b::{c, d}}`, as the paths it names.
fn expand(text: &str) -> Vec<Vec<String>> {
    let text = text.trim_start();
    if let Some(group) = text.strip_prefix('{') {
        let close = matching_brace(text.as_bytes(), 0).unwrap_or(text.len()) - 1;
        let inner = &group[..close];
        let mut parts = Vec::new();
        let (mut depth, mut start) = (0, 0);
        for (i, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    parts.push(&inner[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        parts.push(&inner[start..]);
        return parts.iter().filter(|p| !p.trim().is_empty()).flat_map(|p| expand(p)).collect();
    }
    let word: String = text.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
    if word.is_empty() {
        return Vec::new();
    }
    let rest = &text[word.len()..];
    match rest.strip_prefix("::") {
        Some(more) => {
            let tails = expand(more);
            if tails.is_empty() {
                vec![vec![word]]
            } else {
                tails.into_iter().map(|t| std::iter::once(word.clone()).chain(t).collect()).collect()
            }
        }
        None => vec![vec![word]],
    }
}

/// The module a file belongs to at the top (`report/console/mod.rs` -> `report`).
fn top_module(rel: &Path) -> String {
    let first = rel.components().next().unwrap().as_os_str().to_string_lossy().into_owned();
    first.trim_end_matches(".rs").to_string()
}

/// The file a path from the crate's root lands in: the longest prefix that is a module
/// file.
fn file_of(path: &[String], files: &BTreeSet<PathBuf>) -> Option<PathBuf> {
    (1..=path.len()).rev().find_map(|n| {
        let base: PathBuf = path[..n].iter().collect();
        [base.with_extension("rs"), base.join("mod.rs")].into_iter().find(|f| files.contains(f))
    })
}

/// An arrow between two nodes, with where it is written.
type Arrows = BTreeMap<(String, String), Vec<String>>;

/// The arrows between top-level modules and between files: every `crate::`, `super::`
/// and `self::` path is one.
fn arrows(sources: &[Source]) -> (Arrows, Arrows) {
    let files: BTreeSet<PathBuf> = sources.iter().map(|s| s.rel.clone()).collect();
    let modules: BTreeSet<String> = sources.iter().map(|s| top_module(&s.rel)).collect();
    let (mut by_module, mut by_file) = (Arrows::new(), Arrows::new());
    for s in sources {
        let from = top_module(&s.rel);
        for (path, line) in module_paths(&s.rel, &s.code) {
            let at = format!("{}:{line}", s.rel.display());
            if modules.contains(&path[0]) && path[0] != from {
                by_module.entry((from.clone(), path[0].clone())).or_default().push(at.clone());
            }
            if let Some(to) = file_of(&path, &files).filter(|f| *f != s.rel) {
                let key = (s.rel.display().to_string(), to.display().to_string());
                by_file.entry(key).or_default().push(at);
            }
        }
    }
    (by_module, by_file)
}

/// The circles among the arrows (strongly connected groups of more than one node, or a
/// node with an arrow to itself), each as its members.
fn circles(arrows: &Arrows) -> Vec<Vec<String>> {
    let nodes: BTreeSet<&String> = arrows.keys().flat_map(|(a, b)| [a, b]).collect();
    let next = |n: &String| arrows.keys().filter(|(a, _)| a == n).map(|(_, b)| b.clone()).collect::<Vec<_>>();
    let reach = |start: &String| {
        let (mut seen, mut todo) = (BTreeSet::new(), next(start));
        while let Some(n) = todo.pop() {
            if seen.insert(n.clone()) {
                todo.extend(next(&n));
            }
        }
        seen
    };
    let reaches: BTreeMap<&String, BTreeSet<String>> = nodes.iter().map(|n| (*n, reach(n))).collect();
    let mut groups: BTreeSet<Vec<String>> = BTreeSet::new();
    for n in &nodes {
        if !reaches[n].contains(*n) {
            continue;
        }
        let group: Vec<String> = nodes
            .iter()
            .filter(|m| reaches[n].contains(**m) && reaches[*m].contains(*n))
            .map(|m| (*m).clone())
            .collect();
        groups.insert(group);
    }
    groups.into_iter().collect()
}

/// A circle, told with the arrows inside it and where each is written.
fn describe(circle: &[String], arrows: &Arrows) -> String {
    let inside = arrows.iter().filter(|((a, b), _)| circle.contains(a) && circle.contains(b));
    let lines: Vec<String> = inside.map(|((a, b), at)| format!("  {a} -> {b} (at {})", at.join(", "))).collect();
    format!("circle of {}:\n{}", circle.join(", "), lines.join("\n"))
}

/// The three crates' sources (the benchmark binary is a crate of its own).
fn crates() -> Vec<(&'static str, Vec<Source>)> {
    let skip: &[&str] = &["bin", "main.rs", "lib.rs"];
    ["harness/src", "workers/src", "lambda/src"].into_iter().map(|k| (k, sources(&root().join(k), skip))).collect()
}

/// The circles in each crate among its modules (`files` false) or its files, told.
fn circles_in_crates(files: bool) -> Vec<String> {
    let mut found = Vec::new();
    for (krate, sources) in crates() {
        let (by_module, by_file) = arrows(&sources);
        let arrows = if files { by_file } else { by_module };
        assert!(arrows.len() > 5, "too few arrows seen in {krate} ({}): is the checker blind?", arrows.len());
        found.extend(circles(&arrows).iter().map(|c| format!("{krate}: {}", describe(c, &arrows))));
    }
    found
}

#[test]
fn no_import_circle_among_modules() {
    let found = circles_in_crates(false);
    assert!(found.is_empty(), "import circles among modules (each needs an arrow removed):\n{}", found.join("\n"));
}

#[test]
fn no_import_circle_among_files() {
    let found = circles_in_crates(true);
    assert!(found.is_empty(), "import circles among files:\n{}", found.join("\n"));
}

#[test]
fn no_function_over_80_lines_outside_tests() {
    let mut all = Vec::new();
    for (krate, skip) in [("harness/src", &[][..]), ("workers/src", &[]), ("lambda/src", &[])] {
        let found = long_functions(&sources(&root().join(krate), skip), MAX_FUNCTION_LINES);
        all.extend(found.into_iter().map(|(at, name, n)| format!("  {krate}/{at} fn {name}: {n} lines")));
    }
    assert!(all.is_empty(), "functions over {MAX_FUNCTION_LINES} lines (split them):\n{}", all.join("\n"));
}

fn made_up(files: &[(&str, &str)]) -> Vec<Source> {
    files.iter().map(|(rel, text)| Source { rel: rel.into(), code: without_tests(&blank(text)) }).collect()
}

#[test]
fn the_checkers_see_what_breaks_the_rules() {
    let tangled = made_up(&[
        ("a.rs", "use crate::b::{x, y::Z};\nfn f() { let s = \"crate::c\"; }"),
        ("b/mod.rs", "pub mod y;\nfn g() { crate::a::f(); }"),
        ("b/y.rs", "// crate::a is only mentioned\npub struct Z;"),
        ("c.rs", "#[cfg(test)]\nmod tests { use crate::a; }\nfn h() { crate::b::y::Z; }"),
    ]);
    let (by_module, by_file) = arrows(&tangled);
    assert_eq!(circles(&by_module), vec![vec!["a".to_string(), "b".to_string()]]);
    assert!(!by_module.contains_key(&("a".to_string(), "c".to_string())), "a string is no arrow");
    assert!(!by_module.contains_key(&("c".to_string(), "a".to_string())), "tests are no arrow");
    assert!(by_file.contains_key(&("a.rs".to_string(), "b/y.rs".to_string())), "{by_file:?}");
    assert_eq!(circles(&by_file), vec![vec!["a.rs".to_string(), "b/mod.rs".to_string()]]);
    // `super::` (repeated or not) and `self::` are read from the file's own module.
    let path = |p: &str| p.split("::").map(String::from).collect::<Vec<_>>();
    let read = module_paths(Path::new("a/b.rs"), "use super::{c, d::E};\nfn f() { super::super::g(); self::h::I; }");
    assert_eq!(read, vec![(path("a::c"), 1), (path("a::d::E"), 1), (path("g"), 2), (path("a::b::h::I"), 2)]);
    let read = module_paths(Path::new("a/mod.rs"), "use super::c;\nuse self::c;\nuse super::super::x;");
    assert_eq!(read, vec![(path("c"), 1), (path("a::c"), 2)], "nothing above the crate");
    let relative = made_up(&[
        ("p/mod.rs", "pub mod q;\npub mod r;\npub use self::q::Q;\n#[cfg(test)]\nmod tests { use super::s::T; }"),
        ("p/q.rs", "use super::r::{self, R};\npub struct Q;"),
        ("p/r.rs", "pub struct R;\nfn f() { super::super::p::q::Q; }"),
        ("s/mod.rs", "pub mod t;\nuse self::t::T;"),
        ("s/t.rs", "use super::super::p::Q;\npub struct T;"),
    ]);
    let (by_module, by_file) = arrows(&relative);
    assert_eq!(by_module.keys().collect::<Vec<_>>(), vec![&("s".to_string(), "p".to_string())], "tests are no arrow");
    assert!(by_file.contains_key(&("s/mod.rs".to_string(), "s/t.rs".to_string())), "{by_file:?}");
    assert!(by_file.contains_key(&("s/t.rs".to_string(), "p/mod.rs".to_string())), "{by_file:?}");
    assert_eq!(circles(&by_file), vec![vec!["p/q.rs".to_string(), "p/r.rs".to_string()]]);
    let body = "    let x = ['{', '\\'', '\\\\'];\n".repeat(MAX_FUNCTION_LINES);
    let long = format!("pub async fn long<T: Into<u8>>(t: T) -> Result<(), ()> {{\n{body}}}\nfn short() {{ }}\n");
    let test_only = format!("#[cfg(test)]\nmod tests {{\n    fn long_test() {{\n{body}    }}\n}}\n");
    let found = long_functions(&made_up(&[("x.rs", &long), ("y.rs", &test_only)]), MAX_FUNCTION_LINES);
    assert_eq!(found, vec![("x.rs:1".to_string(), "long".to_string(), MAX_FUNCTION_LINES + 2)]);
}
