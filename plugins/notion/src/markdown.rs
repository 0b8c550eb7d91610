//! Markdown to Notion blocks: paragraphs, headings (`#`, `##`, `###`), bulleted (`-`, `*`, `+`)
//! and numbered (`1.`) list items, fenced code with its language, quotes, dividers, and inline
//! **bold**, *italic*, `code`, ~~strike~~ and [links](https://…). Notion caps one rich text
//! object at 2,000 characters, so longer runs are split.

use heph_sdk::{json, Value};

/// Notion's limit on one rich text object's content.
const MAX_TEXT: usize = 2000;

/// The blocks for a Markdown document.
pub fn to_blocks(markdown: &str) -> Vec<Value> {
    let mut blocks = Vec::new();
    let mut paragraph: Vec<&str> = Vec::new();
    let mut lines = markdown.lines().peekable();
    let flush = |paragraph: &mut Vec<&str>, blocks: &mut Vec<Value>| {
        if !paragraph.is_empty() {
            blocks.push(block("paragraph", rich_text(&paragraph.join(" "))));
            paragraph.clear();
        }
    };
    while let Some(line) = lines.next() {
        let trimmed = line.trim();
        if let Some(fence) = trimmed.strip_prefix("```") {
            flush(&mut paragraph, &mut blocks);
            let mut code = Vec::new();
            for inner in lines.by_ref() {
                if inner.trim_start().starts_with("```") {
                    break;
                }
                code.push(inner);
            }
            blocks.push(json!({
                "object": "block",
                "type": "code",
                "code": {"rich_text": plain(&code.join("\n")), "language": language(fence.trim())}
            }));
            continue;
        }
        if trimmed.is_empty() {
            flush(&mut paragraph, &mut blocks);
            continue;
        }
        let structural = heading(trimmed)
            .or_else(|| list_item(trimmed))
            .or_else(|| {
                trimmed
                    .strip_prefix("> ")
                    .map(|t| block("quote", rich_text(t)))
            })
            .or_else(|| {
                matches!(trimmed, "---" | "***" | "___")
                    .then(|| json!({"object": "block", "type": "divider", "divider": {}}))
            });
        match structural {
            Some(b) => {
                flush(&mut paragraph, &mut blocks);
                blocks.push(b);
            }
            None => paragraph.push(trimmed),
        }
    }
    flush(&mut paragraph, &mut blocks);
    blocks
}

fn block(kind: &str, text: Vec<Value>) -> Value {
    json!({"object": "block", "type": kind, kind: {"rich_text": text}})
}

fn heading(line: &str) -> Option<Value> {
    let level = line.chars().take_while(|c| *c == '#').count();
    let text = line.get(level..)?.strip_prefix(' ')?;
    let kind = match level {
        1 => "heading_1",
        2 => "heading_2",
        3..=6 => "heading_3",
        _ => return None,
    };
    Some(block(kind, rich_text(text.trim())))
}

fn list_item(line: &str) -> Option<Value> {
    for bullet in ["- ", "* ", "+ "] {
        if let Some(text) = line.strip_prefix(bullet) {
            return Some(block("bulleted_list_item", rich_text(text.trim())));
        }
    }
    let digits = line.chars().take_while(char::is_ascii_digit).count();
    if digits > 0 {
        if let Some(text) = line[digits..].strip_prefix(". ") {
            return Some(block("numbered_list_item", rich_text(text.trim())));
        }
    }
    None
}

/// Notion's code languages for the common fence names; anything else is `plain text`.
fn language(fence: &str) -> &'static str {
    match fence.to_ascii_lowercase().as_str() {
        "rust" | "rs" => "rust",
        "python" | "py" => "python",
        "javascript" | "js" => "javascript",
        "typescript" | "ts" => "typescript",
        "json" => "json",
        "yaml" | "yml" => "yaml",
        "toml" => "toml",
        "bash" | "sh" => "bash",
        "shell" | "console" => "shell",
        "sql" => "sql",
        "html" => "html",
        "css" => "css",
        "go" => "go",
        "java" => "java",
        "c" => "c",
        "c++" | "cpp" => "c++",
        "markdown" | "md" => "markdown",
        _ => "plain text",
    }
}

/// Unformatted text, split into rich text objects of at most 2,000 characters.
fn plain(text: &str) -> Vec<Value> {
    chunks(text)
        .map(|chunk| json!({"type": "text", "text": {"content": chunk}}))
        .collect()
}

fn chunks(text: &str) -> impl Iterator<Item = String> + '_ {
    let chars: Vec<char> = text.chars().collect();
    let count = chars.len().div_ceil(MAX_TEXT).max(1);
    (0..count).map(move |i| {
        chars[i * MAX_TEXT..((i + 1) * MAX_TEXT).min(chars.len())]
            .iter()
            .collect()
    })
}

#[derive(Default, Clone, Copy, PartialEq)]
struct Style {
    bold: bool,
    italic: bool,
    code: bool,
    strike: bool,
}

/// Inline Markdown to rich text.
pub fn rich_text(text: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut style = Style::default();
    let mut run = String::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    let push = |run: &mut String, style: Style, link: Option<&str>, out: &mut Vec<Value>| {
        if run.is_empty() {
            return;
        }
        for chunk in chunks(run) {
            let mut t = json!({"type": "text", "text": {"content": chunk}});
            if let Some(url) = link {
                t["text"]["link"] = json!({"url": url});
            }
            if style != Style::default() {
                t["annotations"] = json!({"bold": style.bold, "italic": style.italic,
                    "code": style.code, "strikethrough": style.strike});
            }
            out.push(t);
        }
        run.clear();
    };
    while i < chars.len() {
        let rest: String = chars[i..].iter().take(2).collect();
        if style.code && chars[i] != '`' {
            run.push(chars[i]);
            i += 1;
            continue;
        }
        if chars[i] == '\\' && i + 1 < chars.len() {
            run.push(chars[i + 1]);
            i += 2;
        } else if chars[i] == '`' {
            push(&mut run, style, None, &mut out);
            style.code = !style.code;
            i += 1;
        } else if rest == "**" || rest == "__" {
            push(&mut run, style, None, &mut out);
            style.bold = !style.bold;
            i += 2;
        } else if rest == "~~" {
            push(&mut run, style, None, &mut out);
            style.strike = !style.strike;
            i += 2;
        } else if (chars[i] == '*' || chars[i] == '_') && !style.code {
            // `_` inside a word (snake_case) is text, not emphasis.
            let inside_word = chars[i] == '_'
                && i > 0
                && chars[i - 1].is_alphanumeric()
                && chars.get(i + 1).is_some_and(|c| c.is_alphanumeric());
            if inside_word {
                run.push('_');
            } else {
                push(&mut run, style, None, &mut out);
                style.italic = !style.italic;
            }
            i += 1;
        } else if chars[i] == '[' {
            match link_at(&chars[i..]) {
                Some((label, url, len)) => {
                    push(&mut run, style, None, &mut out);
                    let mut label = label;
                    push(&mut label, style, Some(&url), &mut out);
                    i += len;
                }
                None => {
                    run.push('[');
                    i += 1;
                }
            }
        } else {
            run.push(chars[i]);
            i += 1;
        }
    }
    push(&mut run, style, None, &mut out);
    out
}

/// `[label](url)` at the start of `chars`: the label, the URL and how many chars it spans.
fn link_at(chars: &[char]) -> Option<(String, String, usize)> {
    let close = chars.iter().position(|c| *c == ']')?;
    if chars.get(close + 1) != Some(&'(') {
        return None;
    }
    let end = chars[close + 2..].iter().position(|c| *c == ')')? + close + 2;
    let label: String = chars[1..close].iter().collect();
    let url: String = chars[close + 2..end].iter().collect();
    let url = url.trim().to_string();
    if !(url.starts_with("http://") || url.starts_with("https://") || url.starts_with("mailto:")) {
        return None;
    }
    Some((label, url, end + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_note_becomes_blocks() {
        let blocks = to_blocks(
            "# Week 3\n\nRead **chapter 4** and [the notes](https://example.org/n).\n\n- one\n- two_three\n\n```rust\nfn main() {}\n```\n1. first",
        );
        let kinds: Vec<&str> = blocks.iter().map(|b| b["type"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            [
                "heading_1",
                "paragraph",
                "bulleted_list_item",
                "bulleted_list_item",
                "code",
                "numbered_list_item"
            ]
        );
        let para = &blocks[1]["paragraph"]["rich_text"];
        assert_eq!(para[1]["text"]["content"], "chapter 4");
        assert_eq!(para[1]["annotations"]["bold"], true);
        assert_eq!(para[3]["text"]["link"]["url"], "https://example.org/n");
        assert_eq!(
            blocks[3]["bulleted_list_item"]["rich_text"][0]["text"]["content"],
            "two_three"
        );
        assert_eq!(blocks[4]["code"]["language"], "rust");
    }

    #[test]
    fn long_text_is_split_at_2000_characters() {
        let text = "é".repeat(4500);
        let blocks = to_blocks(&text);
        let parts = blocks[0]["paragraph"]["rich_text"].as_array().unwrap();
        assert_eq!(parts.len(), 3);
        assert_eq!(
            parts[0]["text"]["content"]
                .as_str()
                .unwrap()
                .chars()
                .count(),
            2000
        );
    }
}
