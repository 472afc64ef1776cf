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
//!
//! Simple expressions go the same way: `{{ a.b }}`, `{{ a.b | safe }}` and
//! `{{ a.b | json_encode() }}` whose root `a` can only be the render context
//! (no `for`, `set` or `import` of any template of the renderer binds it, and
//! the tag is not inside a macro body or filter section) become markers too, and [`Runs::restore`]
//! prints them from the context as Tera would: strings escaped where the
//! template autoescapes, numbers and booleans as Tera writes them. Anything
//! else (a missing variable, a list or map printed bare) makes `restore`
//! give up, and the renderer renders that template with Tera alone, so
//! output and error messages stay Tera's.

use std::collections::BTreeSet;
use std::hash::{BuildHasher, Hasher};

/// Runs shorter than this stay in the template: a marker is not free.
const MIN_RUN: usize = 32;

/// The marker prefix and the runs it stands for, shared by every template of
/// one renderer (macros expand inside other templates).
pub struct Runs {
    key: String,
    runs: Vec<Piece>,
    /// Names some template binds itself: a template's `for` variable is
    /// visible in the templates it includes, so one set serves them all.
    bound: BTreeSet<String>,
}

/// What one marker stands for.
enum Piece {
    Text(String),
    Expression(Expression),
}

/// A `{{ root.field… }}` read from the render context.
struct Expression {
    root: String,
    fields: Vec<String>,
    filter: Filter,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Filter {
    None,
    Safe,
    JsonEncode,
}

impl Runs {
    /// Every template with its long text runs and simple expressions
    /// replaced by markers, and the runs that restore them.
    pub fn lift_all(templates: &[&str]) -> (Runs, Vec<String>) {
        let mut runs = Runs::new();
        for template in templates {
            runs.bound.extend(bound_names(template));
        }
        let lifted = templates.iter().map(|t| runs.lift(t)).collect();
        (runs, lifted)
    }

    fn new() -> Runs {
        // A per-process random u64 from std's hasher keys, without a crate.
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(0x5eed);
        Runs {
            key: format!("\u{1}{:016x}:", h.finish()),
            runs: Vec::new(),
            bound: BTreeSet::new(),
        }
    }

    /// `template` with its long text runs and simple expressions replaced
    /// by markers; `self.bound` already holds every template's names.
    fn lift(&mut self, template: &str) -> String {
        let mut out = String::with_capacity(template.len() / 3);
        let mut rest = template;
        let mut trim_start = false;
        // Inside a macro body names come from the call; inside a filter
        // section Tera's filter would see markers, not text.
        let mut in_macro = false;
        let mut in_filter = false;
        // Text and lifted expressions between two tags Tera still parses.
        let mut text = String::new();
        loop {
            let (before, tag, after) = next_tag(rest);
            text.push_str(before);
            if !in_macro
                && !in_filter
                && let Some(expression) = simple_expression(tag, &self.bound)
            {
                text.push_str(&self.marker(Piece::Expression(expression)));
                rest = after;
                continue;
            }
            if in_filter {
                out.push_str(&text);
            } else {
                let trim_end = tag.as_bytes().get(2) == Some(&b'-');
                self.push_text(&mut out, &text, trim_start, trim_end);
            }
            text.clear();
            if tag.is_empty() {
                return out;
            }
            for (open, close, flag) in [
                ("macro", "endmacro", &mut in_macro),
                ("filter", "endfilter", &mut in_filter),
            ] {
                if is_tag(tag, open) {
                    *flag = true;
                } else if is_tag(tag, close) {
                    *flag = false;
                }
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
            // Short runs stay as they were (an expression's marker in one
            // passes through Tera as text); Tera trims them itself.
            out.push_str(text);
            return;
        }
        let marker = self.marker(Piece::Text(kept.to_string()));
        out.push_str(&marker);
    }

    fn marker(&mut self, piece: Piece) -> String {
        self.runs.push(piece);
        format!("{}{};", self.key, self.runs.len() - 1)
    }

    /// Rendered text with every marker replaced by what it stands for;
    /// expressions are read from `context` and escaped when `escape` is
    /// set. `None` when an expression is not a plain value of the context
    /// (the caller then renders with Tera alone).
    pub fn restore(&self, rendered: &str, context: &tera::Context, escape: bool) -> Option<String> {
        if self.runs.is_empty() {
            return Some(rendered.to_string());
        }
        let mut out = String::with_capacity(rendered.len() * 2);
        self.restore_into(&mut out, rendered, context, escape)?;
        Some(out)
    }

    fn restore_into(
        &self,
        out: &mut String,
        rendered: &str,
        context: &tera::Context,
        escape: bool,
    ) -> Option<()> {
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
                // A text run may hold expressions' markers.
                Some(Piece::Text(run)) => self.restore_into(out, run, context, escape)?,
                Some(Piece::Expression(e)) => e.print(out, context, escape)?,
                None => {
                    // Not one of ours (cannot happen): keep it as it was.
                    out.push_str(&self.key);
                    rest = tail;
                    continue;
                }
            }
            rest = &tail[digits + 1..];
        }
        out.push_str(rest);
        Some(())
    }
}

impl Expression {
    /// Writes the value as Tera's `{{ }}` would, or `None` where Tera's
    /// answer is not a plain value (missing, or a list or map printed bare).
    fn print(&self, out: &mut String, context: &tera::Context, escape: bool) -> Option<()> {
        let mut value = context.get(&self.root)?;
        for field in &self.fields {
            value = value.as_object()?.get(field)?;
        }
        use tera::Value;
        match (self.filter, value) {
            (Filter::JsonEncode, _) => {
                let encoded = tera::Filter::filter(
                    &super::escape::JsonEncode,
                    value,
                    &std::collections::HashMap::new(),
                )
                .ok()?;
                out.push_str(encoded.as_str()?);
            }
            (Filter::None, Value::String(s)) if escape => {
                crate::yaml::push_double_quoted_body(out, s);
            }
            (_, Value::String(s)) => out.push_str(s),
            // Tera's own formatting of numbers: integers first, then floats.
            (_, Value::Number(n)) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
                (Some(i), _, _) => out.push_str(&i.to_string()),
                (_, Some(u), _) => out.push_str(&u.to_string()),
                (_, _, Some(f)) => out.push_str(&f.to_string()),
                _ => return None,
            },
            (_, Value::Bool(b)) => out.push_str(if *b { "true" } else { "false" }),
            (_, Value::Null) => {}
            (_, Value::Array(_) | Value::Object(_)) => return None,
        }
        Some(())
    }
}

/// Names a template binds itself (`for` variables, `set` targets, import
/// namespaces): an expression rooted at one of them is not a read of the
/// render context.
fn bound_names(template: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = template;
    loop {
        let (_, tag, after) = next_tag(rest);
        if tag.is_empty() {
            return names;
        }
        rest = after;
        let Some(body) = tag.strip_prefix("{%") else {
            continue;
        };
        let body = body.trim_start_matches('-').trim_start();
        let word = body.split(|c: char| !is_ident_char(c)).next().unwrap_or("");
        let rest_of = &body[word.len()..];
        let idents = |text: &str| -> Vec<String> {
            text.split(|c: char| !is_ident_char(c))
                .filter(|w| !w.is_empty())
                .map(str::to_string)
                .collect()
        };
        match word {
            // `for a in …`, `for k, v in …`
            "for" => names.extend(
                idents(rest_of.split(" in ").next().unwrap_or(""))
                    .into_iter()
                    .take(2),
            ),
            "set" | "set_global" => names.extend(idents(rest_of).into_iter().take(1)),
            // Macro arguments are not here: they bind only inside the
            // macro's body, which is never lifted.
            "import" => names.extend(idents(rest_of.rsplit(" as ").next().unwrap_or(""))),
            _ => {}
        }
    }
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// `{{ a.b }}`, `{{ a.b | safe }}` or `{{ a.b | json_encode() }}`, without
/// whitespace control, rooted outside `bound`.
fn simple_expression(tag: &str, bound: &BTreeSet<String>) -> Option<Expression> {
    let body = tag.strip_prefix("{{ ")?.strip_suffix(" }}")?;
    if body.starts_with('-') || body.ends_with('-') {
        return None;
    }
    let (path, filter) = match body.split_once(" | ") {
        None => (body, Filter::None),
        Some((path, "safe")) => (path, Filter::Safe),
        Some((path, "json_encode()")) => (path, Filter::JsonEncode),
        Some(_) => return None,
    };
    let mut segments = path.split('.');
    let root = segments.next()?;
    let fields: Vec<String> = segments.map(str::to_string).collect();
    let ident = |s: &str| {
        s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') && s.chars().all(is_ident_char)
    };
    // Tera's literals and operators, and its own variables, are not context reads.
    const RESERVED: [&str; 12] = [
        "true",
        "false",
        "True",
        "False",
        "and",
        "or",
        "not",
        "in",
        "is",
        "loop",
        "super",
        "__tera_context",
    ];
    if !ident(root)
        || RESERVED.contains(&root)
        || bound.contains(root)
        || !fields.iter().all(|f| ident(f))
    {
        return None;
    }
    Some(Expression {
        root: root.to_string(),
        fields,
        filter,
    })
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

    fn lift_one(template: &str) -> (Runs, String) {
        let (runs, mut lifted) = Runs::lift_all(&[template]);
        (runs, lifted.remove(0))
    }

    fn render(template: &str, lifted: bool) -> String {
        let (runs, text) = if lifted {
            lift_one(template)
        } else {
            (Runs::new(), template.to_string())
        };
        let mut tera = tera::Tera::default();
        tera.autoescape_on(vec![]);
        tera.add_raw_template("t", &text).unwrap();
        let mut ctx = tera::Context::new();
        ctx.insert("xs", &[1, 2]);
        ctx.insert("v", "value with }} and {% inside");
        runs.restore(&tera.render("t", &ctx).unwrap(), &ctx, false)
            .unwrap()
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
        let (runs, lifted) =
            lift_one("short {{ x | upper }} and a run of plain text that is long enough\n");
        assert!(lifted.starts_with("short {{ x | upper }}"));
        assert_eq!(runs.runs.len(), 1);
        assert!(lifted.len() < 50);
    }

    #[test]
    fn a_value_cannot_forge_a_marker() {
        let (runs, _) = lift_one("{{ x }} and a run of plain text that is long enough\n");
        let forged = "\u{1}0000000000000000:0;";
        let restored = runs.restore(forged, &tera::Context::new(), false);
        assert_eq!(restored.as_deref(), Some(forged));
    }

    /// Renders `template` as `t.yaml.tera` (autoescaped, with our escape
    /// and `json_encode`) with and without lifting, in the renderer's setup.
    fn render_both(template: &str, ctx: &tera::Context) -> (Option<String>, String) {
        let (runs, lifted) = lift_one(template);
        let render = |text: &str| {
            super::super::compile(&[("t.yaml.tera", text)])
                .unwrap()
                .render("t.yaml.tera", ctx)
                .unwrap()
        };
        let restored = runs.restore(&render(&lifted), ctx, true);
        (restored, render(template))
    }

    fn context() -> tera::Context {
        let mut ctx = tera::Context::new();
        ctx.insert("name", "a\"b\\c\nd: {e} \u{2028}");
        ctx.insert("n", &-7_i64);
        ctx.insert("big", &u64::MAX);
        ctx.insert(
            "ratios",
            &serde_json::json!({"one": 1.0, "tenth": 0.1, "huge": 1e21}),
        );
        ctx.insert(
            "flags",
            &serde_json::json!({"on": true, "off": false, "none": null}),
        );
        ctx.insert(
            "nested",
            &serde_json::json!({"a": {"b": "deep"}, "list": [1, "x"]}),
        );
        ctx
    }

    #[test]
    fn lifted_expressions_print_what_tera_prints() {
        let template = "k: \"{{ name }}\"\nraw: {{ name | safe }}\nn: {{ n }} {{ big }}\n\
            r: {{ ratios.one }} {{ ratios.tenth }} {{ ratios.huge }}\n\
            f: {{ flags.on }} {{ flags.off }} [{{ flags.none }}]\n\
            d: {{ nested.a.b }}\nj: {{ nested | json_encode() }} {{ name | json_encode() }}\n\
            a run of plain text long enough to be lifted, around {{ nested.a.b }} too\n";
        let (restored, plain) = render_both(template, &context());
        assert_eq!(restored.as_deref(), Some(plain.as_str()));
        let (_, lifted) = lift_one(template);
        assert!(
            !lifted.contains("{{"),
            "every expression is lifted: {lifted}"
        );
    }

    #[test]
    fn what_a_template_binds_is_left_to_tera() {
        for template in [
            "{% for name in xs %}{{ name }}{% endfor %}",
            "{% for k, name in m %}{{ name }}{% endfor %}",
            "{% set name = 1 %}{{ name }}",
            "{% set_global name = 1 %}{{ name }}",
            "{% macro f(x, name=2) %}{{ name }}{% endmacro f %}",
            "{% macro f(x) %}{% for name in x %}{% endfor %}{% endmacro f %}{{ name }}",
            "{% macro f() %}{{ n }}{% endmacro f %}",
            "{% filter upper %}{{ n }} and a run of text long enough to be lifted{% endfilter %}",
            "{{ loop.index }}{{ true }}{{ name | upper }}{{- name }}{{ name.0 }}{{ n + 1 }}",
        ] {
            assert_eq!(lift_one(template).1, template);
        }
        // A loop variable is visible in what the loop includes.
        let including = "{% for name in xs %}{% include \"other\" %}{% endfor %}";
        let (_, lifted) = Runs::lift_all(&[including, "{{ name }}"]);
        assert_eq!(lifted[1], "{{ name }}");
        assert_ne!(lift_one("{{ name }}").1, "{{ name }}");
    }

    #[test]
    fn values_tera_would_not_print_plainly_are_given_back() {
        for template in [
            "{{ missing }}",
            "{{ nested.list }}",
            "{{ nested }}",
            "{{ name.x }}",
        ] {
            let (runs, lifted) = lift_one(template);
            assert_ne!(lifted, template);
            let restored = runs.restore(&lifted, &context(), true);
            assert_eq!(restored, None, "{template}");
        }
    }
}
