//! The documentation stays honest: the README stays short and opens with the two
//! commands a newcomer runs, every docs page is reachable from it, and every relative
//! link in the README, in `docs/` and in `scenarios/README.md` points at a file or
//! directory that exists, and at a heading that exists when it names one (`#fragment`,
//! as GitHub makes heading anchors). Only the standard library: a small Markdown
//! scanner that knows fenced code blocks, code spans and ATX headings, which is all
//! these pages use.

use std::collections::HashMap;
use std::fs;
use std::path::{Component, Path, PathBuf};

/// The README's length limit, in lines.
const README_MAX_LINES: usize = 250;

/// The two commands the README opens with, in this order.
const README_COMMANDS: [&str; 2] = ["cargo run -p harness -- run scenarios/ch04-10k.toml", "cargo test --workspace"];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("harness/ has a parent: the repository").to_path_buf()
}

/// The pages whose links are checked: the README, every page in docs/, and the
/// scenario format reference.
fn checked_pages(root: &Path) -> Vec<PathBuf> {
    let mut pages = vec![root.join("README.md"), root.join("scenarios/README.md")];
    let mut docs: Vec<PathBuf> = fs::read_dir(root.join("docs"))
        .expect("docs/ exists")
        .map(|entry| entry.expect("docs/ is readable").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
}

fn relative<'a>(root: &Path, path: &'a Path) -> std::borrow::Cow<'a, str> {
    path.strip_prefix(root).unwrap_or(path).to_string_lossy()
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One line of a Markdown file, as far as links and headings care: inside a fenced code
/// block or not.
struct Line<'a> {
    number: usize,
    text: &'a str,
    in_code: bool,
}

/// The file's lines, each marked when it is part of a fenced code block (the fences
/// themselves included). A fence is three or more backticks or tildes, indented or not
/// (as in list items); it closes on a fence of the same character at least as long.
fn lines(markdown: &str) -> Vec<Line<'_>> {
    let mut open: Option<(char, usize)> = None;
    let mut out = Vec::new();
    for (i, text) in markdown.lines().enumerate() {
        let trimmed = text.trim_start();
        let fence = ['`', '~'].into_iter().find_map(|c| {
            let n = trimmed.chars().take_while(|&x| x == c).count();
            (n >= 3).then_some((c, n))
        });
        let in_code = match (open, fence) {
            (None, Some(f)) => {
                open = Some(f);
                true
            }
            (Some((c, n)), Some((fc, fnum))) if c == fc && fnum >= n && trimmed[fnum..].trim().is_empty() => {
                open = None;
                true
            }
            (Some(_), _) => true,
            (None, None) => false,
        };
        out.push(Line { number: i + 1, text, in_code });
    }
    out
}

/// A line with its code spans (`...`, ``...``) taken out, so that a bracket in code is
/// not read as a link. A backtick run with no closing run of the same length is text.
fn without_code_spans(line: &str) -> String {
    let bytes = line.as_bytes();
    let mut out = String::with_capacity(line.len());
    let mut i = 0;
    let mut start = 0;
    while i < bytes.len() {
        if bytes[i] != b'`' {
            i += 1;
            continue;
        }
        let run = bytes[i..].iter().take_while(|&&b| b == b'`').count();
        let mut j = i + run;
        let mut close = None;
        while j < bytes.len() {
            if bytes[j] == b'`' {
                let n = bytes[j..].iter().take_while(|&&b| b == b'`').count();
                if n == run {
                    close = Some(j + n);
                    break;
                }
                j += n;
            } else {
                j += 1;
            }
        }
        match close {
            Some(end) => {
                out.push_str(&line[start..i]);
                out.push(' ');
                i = end;
                start = end;
            }
            None => i += run,
        }
    }
    out.push_str(&line[start..]);
    out
}

/// A link as written: the line it is on and its target (path and fragment).
#[derive(Debug, PartialEq)]
struct Link {
    line: usize,
    target: String,
}

/// Every link target on the lines outside code: inline links and images `[text](target)`
/// (a target in `<...>` or followed by a title) and reference definitions `[ref]: target`.
fn links(markdown: &str) -> Vec<Link> {
    let mut out = Vec::new();
    for line in lines(markdown).into_iter().filter(|l| !l.in_code) {
        let text = without_code_spans(line.text);
        // Reference definitions: `[ref]: target`.
        let trimmed = text.trim_start();
        if let Some(rest) = trimmed.strip_prefix('[') {
            let label_end = rest.find(']').filter(|&close| rest[close + 1..].starts_with(':'));
            if let Some(close) = label_end {
                if let Some(target) = rest[close + 2..].split_whitespace().next() {
                    out.push(Link {
                        line: line.number,
                        target: target.trim_start_matches('<').trim_end_matches('>').to_string(),
                    });
                    continue;
                }
            }
        }
        // Inline links: `](` then the target up to the matching `)`.
        let mut rest = text.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let mut depth = 0usize;
            let mut end = after.len();
            for (k, c) in after.char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' if depth == 0 => {
                        end = k;
                        break;
                    }
                    ')' => depth -= 1,
                    _ => {}
                }
            }
            let inside = after[..end].trim();
            let target = if let Some(angled) = inside.strip_prefix('<') {
                angled.split('>').next().unwrap_or("")
            } else {
                inside.split_whitespace().next().unwrap_or("")
            };
            out.push(Link { line: line.number, target: target.to_string() });
            rest = &after[end.min(after.len())..];
        }
    }
    out
}

/// GitHub's anchor for a heading's text: lowercased, every character but letters,
/// digits, spaces, hyphens and underscores dropped, spaces turned into hyphens. Code
/// spans and links count by their text, as GitHub renders them.
fn slug(heading: &str) -> String {
    let mut text = String::new();
    // A link in a heading counts by its text: drop the `(target)` after `]`.
    let mut chars = heading.chars().peekable();
    while let Some(c) = chars.next() {
        if c == ']' && chars.peek() == Some(&'(') {
            let mut depth = 0usize;
            for d in chars.by_ref() {
                match d {
                    '(' => depth += 1,
                    ')' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
            }
            continue;
        }
        text.push(c);
    }
    text.trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of a file's ATX headings (`#` to `######`) outside code, with GitHub's
/// `-1`, `-2` ... suffixes for repeated headings.
fn anchors(markdown: &str) -> Vec<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::new();
    for line in lines(markdown).into_iter().filter(|l| !l.in_code) {
        let trimmed = line.text.trim_start();
        if line.text.len() - trimmed.len() > 3 {
            continue;
        }
        let hashes = trimmed.chars().take_while(|&c| c == '#').count();
        if !(1..=6).contains(&hashes) {
            continue;
        }
        let rest = &trimmed[hashes..];
        if !(rest.is_empty() || rest.starts_with(' ') || rest.starts_with('\t')) {
            continue;
        }
        // A closing sequence of #s is not part of the heading.
        let rest = rest.trim();
        let rest = match rest.trim_end_matches('#') {
            stripped if stripped.is_empty() || stripped.ends_with(' ') => stripped,
            _ => rest,
        };
        let base = slug(rest);
        let n = seen.entry(base.clone()).or_insert(0);
        out.push(if *n == 0 { base.clone() } else { format!("{base}-{n}") });
        *n += 1;
    }
    out
}

/// `%20` and the like, as GitHub reads a link's path.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && bytes[i + 1].is_ascii_hexdigit()
            && bytes[i + 2].is_ascii_hexdigit()
        {
            let hex = |b: u8| (b as char).to_digit(16).unwrap_or(0) as u8;
            out.push(hex(bytes[i + 1]) * 16 + hex(bytes[i + 2]));
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A path with `.` and `..` resolved lexically (GitHub resolves links that way, whatever
/// symbolic links the checkout has).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

fn is_external(target: &str) -> bool {
    let lower = target.to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://") || lower.starts_with("mailto:")
}

/// Every broken relative link in `markdown`, the contents of `file` (a path in the
/// repository at `root`), each as `file:line: link `target`: what is wrong`. Targets are
/// resolved from the file's directory (or from the repository root when they start with
/// `/`, as on GitHub); a `#fragment` into a Markdown file must be one of its headings'
/// anchors. Same-file fragments are checked against `markdown` itself.
fn broken_links(root: &Path, file: &Path, markdown: &str) -> Vec<String> {
    let mut errors = Vec::new();
    let name = relative(root, file);
    let dir = file.parent().unwrap_or(root);
    let mut anchor_cache: HashMap<PathBuf, Option<Vec<String>>> = HashMap::new();
    for link in links(markdown) {
        let target = link.target.as_str();
        if is_external(target) {
            continue;
        }
        let fail = |why: String| format!("{name}:{}: link `{target}`: {why}", link.line);
        if target.is_empty() {
            errors.push(fail("empty target".into()));
            continue;
        }
        let (path_part, fragment) = match target.split_once('#') {
            Some((p, f)) => (p, Some(f)),
            None => (target, None),
        };
        let path_part = percent_decode(path_part);
        let resolved = if path_part.is_empty() {
            file.to_path_buf()
        } else if let Some(from_root) = path_part.strip_prefix('/') {
            normalize(&root.join(from_root))
        } else {
            normalize(&dir.join(&path_part))
        };
        if !path_part.is_empty() && !resolved.exists() {
            errors.push(fail(format!("{} does not exist", relative(root, &resolved))));
            continue;
        }
        let Some(fragment) = fragment else { continue };
        if resolved.extension().is_none_or(|ext| ext != "md") {
            continue; // A fragment into a source file (`#L10`) or a directory: not ours.
        }
        let found = if resolved == file {
            Some(anchors(markdown))
        } else {
            anchor_cache
                .entry(resolved.clone())
                .or_insert_with(|| fs::read_to_string(&resolved).ok().map(|t| anchors(&t)))
                .clone()
        };
        match found {
            None => errors.push(fail(format!("{} is not readable", relative(root, &resolved)))),
            Some(anchors) if !anchors.iter().any(|a| a == fragment) => errors.push(fail(format!(
                "no heading in {} has the anchor #{fragment} (its anchors: {})",
                relative(root, &resolved),
                anchors.join(", ")
            ))),
            Some(_) => {}
        }
    }
    errors
}

#[test]
fn readme_is_short() {
    let root = repo_root();
    let readme = read(&root.join("README.md"));
    let n = readme.lines().count();
    assert!(
        n <= README_MAX_LINES,
        "README.md:{n}: the README has {n} lines, more than {README_MAX_LINES}: move detail into docs/"
    );
}

#[test]
fn every_relative_link_resolves() {
    let root = repo_root();
    let mut errors = Vec::new();
    let mut checked = 0;
    for page in checked_pages(&root) {
        let text = read(&page);
        checked += links(&text).len();
        errors.extend(broken_links(&root, &page, &text));
    }
    assert!(checked > 0, "no links found at all: the scanner is broken");
    assert!(errors.is_empty(), "{} broken link(s):\n{}", errors.len(), errors.join("\n"));
}

#[test]
fn readme_opens_with_the_two_commands() {
    let root = repo_root();
    let readme = read(&root.join("README.md"));
    let all = lines(&readme);
    // The title, then at once the code block.
    let first = all
        .iter()
        .find(|l| !l.text.trim().is_empty() && !l.text.starts_with("# "))
        .expect("README.md has content after its title");
    assert!(
        first.in_code,
        "README.md:{}: the first thing after the title must be the code block with the two commands, found `{}`",
        first.number, first.text
    );
    let block: Vec<&Line> = all
        .iter()
        .skip_while(|l| !l.in_code)
        .take_while(|l| l.in_code)
        .skip(1) // the opening fence
        .collect();
    let body = &block[..block.len().saturating_sub(1)]; // the closing fence
    let commands: Vec<(usize, String)> = body
        .iter()
        .filter(|l| !l.text.trim().is_empty())
        .map(|l| {
            let command = match l.text.find(" #") {
                Some(at) => &l.text[..at],
                None => l.text,
            };
            (l.number, command.trim().to_string())
        })
        .collect();
    let found: Vec<&str> = commands.iter().map(|(_, c)| c.as_str()).collect();
    assert_eq!(
        found, README_COMMANDS,
        "README.md:{}: the first code block must hold exactly these two commands",
        first.number
    );
    for line in body.iter().filter(|l| !l.text.trim().is_empty()) {
        assert!(
            line.text.contains(" # "),
            "README.md:{}: each of the two commands has a short comment: `{}`",
            line.number,
            line.text
        );
    }
}

#[test]
fn readme_links_every_docs_page() {
    let root = repo_root();
    let readme_path = root.join("README.md");
    let readme = read(&readme_path);
    let targets: Vec<PathBuf> = links(&readme)
        .into_iter()
        .filter(|l| !is_external(&l.target))
        .map(|l| normalize(&root.join(l.target.split('#').next().unwrap_or(""))))
        .collect();
    let missing: Vec<String> = checked_pages(&root)
        .into_iter()
        .filter(|page| *page != readme_path && !targets.contains(page))
        .map(|page| relative(&root, &page).into_owned())
        .collect();
    assert!(missing.is_empty(), "README.md: no link to {}", missing.join(", "));
}

/// The checker is not blind: on a page with known mistakes it reports each of them, with
/// its line, and nothing else.
#[test]
fn the_checker_catches_broken_links() {
    let root = repo_root();
    let page = root.join("docs/virtual-page.md");
    let markdown = "\
# A page

## Its second heading

[fine](running.md), [fine too](../README.md#install), [fine here](#its-second-heading)
[a directory](../deploy/k8s/) and [outside](https://example.com/nothing) and [mail](mailto:a@b.c)
[missing file](no-such-file.md)
[missing heading](running.md#no-such-heading) and `[in code](nowhere.md)`
[missing here](#nowhere)

```sh
echo '[in a code block](nowhere-either.md)'
```

[ref]: ../no-such-dir/
";
    let errors = broken_links(&root, &page, markdown);
    let expected = [
        "docs/virtual-page.md:7: link `no-such-file.md`",
        "docs/virtual-page.md:8: link `running.md#no-such-heading`",
        "docs/virtual-page.md:9: link `#nowhere`",
        "docs/virtual-page.md:15: link `../no-such-dir/`",
    ];
    assert_eq!(errors.len(), expected.len(), "reported: {errors:#?}");
    for (error, want) in errors.iter().zip(expected) {
        assert!(error.starts_with(want), "expected `{want}...`, got `{error}`");
    }
}

#[test]
fn slugs_are_githubs() {
    assert_eq!(slug("Gating CI: thresholds and `harness check`"), "gating-ci-thresholds-and-harness-check");
    assert_eq!(
        slug("`1m.toml` over 16 local worker processes, against one process"),
        "1mtoml-over-16-local-worker-processes-against-one-process"
    );
    assert_eq!(slug("The workshop's chapter 6"), "the-workshops-chapter-6");
    assert_eq!(slug("What `quickstart` does"), "what-quickstart-does");
    assert_eq!(slug("See [the docs](docs/x.md) now"), "see-the-docs-now");
    assert_eq!(anchors("# A\n## A\n```\n# not a heading\n```\n### A ###\n"), ["a", "a-1", "a-2"]);
}
