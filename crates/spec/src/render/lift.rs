//! Static text kept out of Tera's parser.
//!
//! Tera's pest grammar spends about 900 instructions on every byte of plain
//! text (each byte is tested against the six tag openers, with pest's attempt
//! tracking) and about 70,000 on each `{{ … }}`. Most of the templates is
//! plain YAML, so before Tera compiles a template each long run of text
//! between two tags is swapped for a short marker, and after rendering the
//! markers are swapped back. Tera then parses a fifth of the bytes; the
//! rendered text is the same byte for byte (the tests compare every
//! committed stack).
//!
//! Whitespace control is applied here, as Tera would apply it to the text:
//! a run is trimmed at its end before a `{{-`, `{%-` or `{#-` and at its
//! start after `-}}`, `-%}`, `-#}` and after an `import` or `extends` tag
//! (whose grammar swallows the whitespace around it). `{% raw %}` blocks pass
//! untouched. A marker carries a key drawn at random for each renderer, so
//! no value a template prints can forge one.

use std::hash::{BuildHasher, Hasher};

/// Runs shorter than this stay in the template: a marker is not free.
const MIN_RUN: usize = 32;

/// The marker prefix and the runs it stands for, shared by every template of
/// one renderer (macros expand inside other templates).
pub struct Runs {
    key: String,
    runs: Vec<String>,
}

impl Runs {
    pub fn new() -> Runs {
        // A per-process random u64 from std's hasher keys, without a crate.
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(0x5eed);
        Runs {
            key: format!("\u{1}{:016x}:", h.finish()),
            runs: Vec::new(),
        }
    }

    /// `template` with its long text runs replaced by markers.
    pub fn lift(&mut self, template: &str) -> String {
        let mut out = String::with_capacity(template.len() / 3);
        let mut rest = template;
        let mut trim_start = false;
        loop {
            let (text, tag, after) = next_tag(rest);
            let trim_end = tag.as_bytes().get(2) == Some(&b'-');
            self.push_text(&mut out, text, trim_start, trim_end);
            if tag.is_empty() {
                return out;
            }
            if is_tag(tag, "raw") {
                // Copied through its `endraw`, untouched.
                let end = after
                    .find("endraw")
                    .and_then(|i| after[i..].find("%}").map(|j| i + j + 2))
                    .unwrap_or(after.len());
                out.push_str(tag);
                out.push_str(&after[..end]);
                trim_start = after[..end].ends_with("-%}");
                rest = &after[end..];
                continue;
            }
            out.push_str(tag);
            trim_start = tag.ends_with("-}}")
                || tag.ends_with("-%}")
                || tag.ends_with("-#}")
                || is_tag(tag, "import")
                || is_tag(tag, "extends");
            rest = after;
        }
    }

    fn push_text(&mut self, out: &mut String, text: &str, trim_start: bool, trim_end: bool) {
        let mut kept = text;
        if trim_start {
            kept = kept.trim_start();
        }
        if trim_end {
            kept = kept.trim_end();
        }
        if kept.len() < MIN_RUN {
            // Short runs stay as they were; Tera trims them itself.
            out.push_str(text);
            return;
        }
        out.push_str(&self.key);
        out.push_str(&self.runs.len().to_string());
        out.push(';');
        self.runs.push(kept.to_string());
    }

    /// Rendered text with every marker replaced by its run.
    pub fn restore(&self, rendered: &str) -> String {
        if self.runs.is_empty() {
            return rendered.to_string();
        }
        let mut out = String::with_capacity(rendered.len() * 2);
        let mut rest = rendered;
        while let Some(at) = rest.find(&self.key) {
            out.push_str(&rest[..at]);
            let tail = &rest[at + self.key.len()..];
            let digits = tail.find(';').unwrap_or(0);
            match tail[..digits]
                .parse::<usize>()
                .ok()
                .and_then(|i| self.runs.get(i))
            {
                Some(run) => {
                    out.push_str(run);
                    rest = &tail[digits + 1..];
                }
                None => {
                    // Not one of ours (cannot happen): keep it as it was.
                    out.push_str(&self.key);
                    rest = tail;
                }
            }
        }
        out.push_str(rest);
        out
    }
}

/// Splits `s` at its first tag: (text before, the tag, the rest). A tag runs
/// from `{{`, `{%` or `{#` to its closer; quoted strings inside a `{{ }}` or
/// `{% %}` may hold the closer. No tag: (s, "", "").
fn next_tag(s: &str) -> (&str, &str, &str) {
    let b = s.as_bytes();
    let mut i = 0;
    while let Some(k) = s[i..].find('{') {
        let start = i + k;
        let close = match b.get(start + 1) {
            Some(b'{') => b'}',
            Some(b'%') => b'%',
            Some(b'#') => b'#',
            _ => {
                i = start + 1;
                continue;
            }
        };
        let end = tag_end(b, start + 2, close).unwrap_or(b.len());
        return (&s[..start], &s[start..end], &s[end..]);
    }
    (s, "", "")
}

/// Index just past the closer (`}}`, `%}` or `#}`) of a tag opened before
/// `from`; comments have no strings, the others skip over quoted ones.
fn tag_end(b: &[u8], from: usize, close: u8) -> Option<usize> {
    let mut i = from;
    let mut quote = None;
    while i + 1 < b.len() {
        let c = b[i];
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if close != b'#' && matches!(c, b'"' | b'\'' | b'`') => quote = Some(c),
            None if c == close && b[i + 1] == b'}' => return Some(i + 2),
            None => {}
        }
        i += 1;
    }
    None
}

/// `{% name …` or `{%- name …`.
fn is_tag(tag: &str, name: &str) -> bool {
    tag.strip_prefix("{%")
        .map(|t| t.trim_start_matches('-').trim_start())
        .is_some_and(|t| {
            t.strip_prefix(name)
                .is_some_and(|r| r.starts_with(|c: char| c.is_whitespace() || c == '%' || c == '-'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(template: &str, lifted: bool) -> String {
        let mut runs = Runs::new();
        let text = if lifted {
            runs.lift(template)
        } else {
            template.to_string()
        };
        let mut tera = tera::Tera::default();
        tera.autoescape_on(vec![]);
        tera.add_raw_template("t", &text).unwrap();
        let mut ctx = tera::Context::new();
        ctx.insert("xs", &[1, 2]);
        ctx.insert("v", "value with }} and {% inside");
        runs.restore(&tera.render("t", &ctx).unwrap())
    }

    #[test]
    fn lifted_templates_render_the_same_bytes() {
        let long = "a line of plain text, long enough to be lifted\n  and a second one\n";
        for template in [
            format!("{long}{{{{ v }}}}{long}"),
            format!("{long}   {{{{- v -}}}}   \n{long}"),
            format!("{{% for x in xs -%}}\n  {long}{{{{ x }}}}\n{{%- endfor %}}\n{long}"),
            format!("{{% if xs %}}{long}{{%- else -%}}{long}{{% endif -%}}\n\n{long}"),
            format!("{{# a comment with }} in it #}}{long}{{#- trims -#}}  {long}"),
            format!("{{% set s = \"a %}} b\" %}}{long}{{{{ s }}}}{{{{ '}}}}' }}}}{long}"),
            format!("{{% raw %}}{long}{{{{ not a tag }}}}{{% endraw %}}{long}"),
            format!("{long}{{{{ v }}}}"),
            "no tags at all, but long enough to be lifted as one run".to_string(),
            String::new(),
        ] {
            assert_eq!(
                render(&template, true),
                render(&template, false),
                "{template}"
            );
        }
    }

    #[test]
    fn long_runs_become_markers_and_short_ones_stay() {
        let mut runs = Runs::new();
        let lifted = runs.lift("short {{ x }} and a run of plain text that is long enough\n");
        assert!(lifted.starts_with("short {{ x }}"));
        assert_eq!(runs.runs.len(), 1);
        assert!(lifted.len() < 40);
    }

    #[test]
    fn a_value_cannot_forge_a_marker() {
        let mut runs = Runs::new();
        runs.lift("{{ x }} and a run of plain text that is long enough\n");
        let forged = "\u{1}0000000000000000:0;";
        assert_eq!(runs.restore(forged), forged);
    }
}
