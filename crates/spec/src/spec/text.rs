//! What the spec's free-text values may hold. Each value lands somewhere
//! with a grammar of its own (a CSV header, a DQDL string, an IoT SQL topic,
//! an SNS endpoint, an AWS tag); the renderer escapes what it writes, and
//! these rules narrow what can be written at all to what that destination
//! means. Messages name the position and code point of a refused character,
//! never the value, so a terminal is never sent what the spec holds.

use std::sync::LazyLock;

use super::model::Spec;

/// Tags dxops puts on every resource besides the spec's (so the schema
/// allows 47 of AWS's 50).
pub const RESERVED_TAGS: [&str; 3] = ["data-classification", "dxops:pipeline", "dxops:environment"];

/// One refused value: where (JSON pointer, and the field as messages name
/// it: a tag by its place, since its key is spec text) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextProblem {
    pub pointer: String,
    pub field: String,
    pub message: String,
    pub help: &'static str,
}

/// Every free-text rule of the spec, in document order.
pub fn check(spec: &Spec) -> Vec<TextProblem> {
    let mut out = Vec::new();
    const TAG_HELP: &str = "AWS tags hold letters, digits, spaces and `_ . : / = + - @`; keys 1-128 characters and not starting with `aws:`, values 1-256";
    for (n, (key, value)) in spec.tags.iter().enumerate() {
        let pointer = format!("/tags/{}", super::validate::escape(key));
        let field = format!("tags, entry {}", n + 1);
        let reserved = if RESERVED_TAGS.contains(&key.as_str()) {
            Err("this tag key is set by dxops on every resource".to_string())
        } else {
            Ok(())
        };
        push(
            &mut out,
            pointer.clone(),
            format!("{field} (key)"),
            tag_key(key).and(reserved),
            TAG_HELP,
        );
        push(&mut out, pointer, field, tag_value(value), TAG_HELP);
    }
    rule(
        &mut out,
        "/compliance/data_classification".into(),
        tag_value(&spec.compliance.data_classification),
        TAG_HELP,
    );
    if let Some(iot) = &spec.ingest.iot {
        rule(
            &mut out,
            "/ingest/iot/topic".into(),
            topic_filter(&iot.topic),
            "an MQTT topic filter: levels of letters, digits and `_ - . :` separated by `/`, `+` for one whole level, `#` for the whole last level; at most 8 levels and 256 bytes; not a reserved `$` topic",
        );
    }
    const NAME_HELP: &str =
        "column names are identifiers: a letter or `_`, then letters, digits or `_`, at most 128";
    let data = &spec.data;
    rule(
        &mut out,
        "/data/label".into(),
        identifier(&data.label),
        NAME_HELP,
    );
    for (i, id) in data.identifiers.iter().enumerate() {
        rule(
            &mut out,
            format!("/data/identifiers/{i}"),
            identifier(id),
            NAME_HELP,
        );
    }
    const VALUE_HELP: &str = "a value is 1-256 characters on one line, without `\"` or `\\`";
    for (i, f) in data.features.iter().enumerate() {
        rule(
            &mut out,
            format!("/data/features/{i}/name"),
            identifier(&f.name),
            NAME_HELP,
        );
        if let Some(unit) = &f.unit {
            rule(
                &mut out,
                format!("/data/features/{i}/unit"),
                label_text(unit, 32),
                "a unit is 1-32 characters on one line, without `\"` or `\\`",
            );
        }
        for (j, v) in f.values.iter().flatten().enumerate() {
            rule(
                &mut out,
                format!("/data/features/{i}/values/{j}"),
                label_text(v, 256),
                VALUE_HELP,
            );
        }
    }
    for (i, q) in data.quality.iter().enumerate() {
        if let Some(column) = &q.column {
            rule(
                &mut out,
                format!("/data/quality/{i}/column"),
                identifier(column),
                NAME_HELP,
            );
        }
        for (j, v) in q.values.iter().flatten().enumerate() {
            rule(
                &mut out,
                format!("/data/quality/{i}/values/{j}"),
                label_text(v, 256),
                VALUE_HELP,
            );
        }
    }
    for (i, address) in spec.monitoring.alarms.email.iter().enumerate() {
        rule(
            &mut out,
            format!("/monitoring/alarms/email/{i}"),
            email(address),
            "an e-mail address: `local@domain.tld`, the local part of letters, digits and `. _ % + -`",
        );
    }
    for (i, w) in spec.compliance.waivers.iter().enumerate() {
        rule(
            &mut out,
            format!("/compliance/waivers/{i}/resource"),
            waiver_resource(&w.resource),
            "a logical id (`RawBucket`) or `stack-name/LogicalId`",
        );
        for (field, text) in [("reason", &w.reason), ("owner", &w.owner)] {
            rule(
                &mut out,
                format!("/compliance/waivers/{i}/{field}"),
                one_line(text, 1024),
                "one line of at most 1024 characters",
            );
        }
    }
    out
}

fn rule(
    out: &mut Vec<TextProblem>,
    pointer: String,
    result: Result<(), String>,
    help: &'static str,
) {
    let field = pointer.trim_start_matches('/').replace('/', ".");
    push(out, pointer, field, result, help);
}

fn push(
    out: &mut Vec<TextProblem>,
    pointer: String,
    field: String,
    result: Result<(), String>,
    help: &'static str,
) {
    if let Err(message) = result {
        out.push(TextProblem {
            pointer,
            field,
            message,
            help,
        });
    }
}

/// The first character that `allowed` refuses, as a message.
fn refuse_chars(text: &str, allowed: impl Fn(usize, char) -> bool) -> Result<(), String> {
    match text.chars().enumerate().find(|&(i, c)| !allowed(i, c)) {
        Some((i, c)) => Err(format!(
            "character {} ({}) is not allowed here",
            i + 1,
            code_point(c)
        )),
        None => Ok(()),
    }
}

fn code_point(c: char) -> String {
    if c.is_ascii_graphic() {
        format!("`{c}`")
    } else {
        format!("U+{:04X}", c as u32)
    }
}

fn length(text: &str, min: usize, max: usize) -> Result<(), String> {
    let n = text.chars().count();
    if n < min || n > max {
        Err(format!("{n} characters; {min} to {max} are allowed"))
    } else {
        Ok(())
    }
}

/// A column name: safe unquoted in a CSV header, a comma-separated list, a
/// DQDL string and a SageMaker hyperparameter.
pub fn identifier(text: &str) -> Result<(), String> {
    length(text, 1, 128)?;
    refuse_chars(text, |i, c| {
        c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())
    })
}

/// Text for people on one line (units, categories): no control or line
/// separator characters, and no quote or backslash, which DQDL cannot escape.
fn label_text(text: &str, max: usize) -> Result<(), String> {
    length(text, 1, max)?;
    refuse_chars(text, |_, c| {
        !is_break_or_control(c) && c != '"' && c != '\\'
    })
}

fn one_line(text: &str, max: usize) -> Result<(), String> {
    length(text, 1, max)?;
    refuse_chars(text, |_, c| !is_break_or_control(c))
}

fn is_break_or_control(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{FEFF}')
}

/// AWS's tag alphabet: `^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$`, less the line and
/// paragraph separators of `\p{Z}`, which YAML 1.1 readers take for breaks.
const TAG_ALPHABET: &str = r"^[\p{L}\p{Zs}\p{N}_.:/=+\-@]$";

fn tag_chars(text: &str) -> Result<(), String> {
    static TAG: LazyLock<regex::Regex> =
        LazyLock::new(|| regex::Regex::new(TAG_ALPHABET).expect("the tag alphabet compiles"));
    // ASCII answers without the regex: building its Unicode classes costs
    // more than the rest of validation, and most specs' tags are ASCII.
    refuse_chars(text, |_, c| {
        if c.is_ascii() {
            c.is_ascii_alphanumeric() || c == ' ' || "_.:/=+-@".contains(c)
        } else {
            TAG.is_match(c.encode_utf8(&mut [0u8; 4]))
        }
    })
}

pub fn tag_key(key: &str) -> Result<(), String> {
    length(key, 1, 128)?;
    tag_chars(key)?;
    if key.len() >= 4 && key[..4].eq_ignore_ascii_case("aws:") {
        return Err("tag keys starting with `aws:` are AWS's own".into());
    }
    Ok(())
}

/// AWS allows empty tag values, but not on every resource type (cfn-lint
/// E3033 on SageMaker's), and every resource gets every tag.
pub fn tag_value(value: &str) -> Result<(), String> {
    length(value, 1, 256)?;
    tag_chars(value)
}

/// An MQTT topic filter as AWS IoT accepts it in a rule's `FROM`.
pub fn topic_filter(topic: &str) -> Result<(), String> {
    if topic.len() > 256 {
        return Err(format!("{} bytes; at most 256 are allowed", topic.len()));
    }
    if topic.starts_with('$') {
        return Err("topics starting with `$` are reserved by AWS IoT".into());
    }
    let levels: Vec<&str> = topic.split('/').collect();
    if levels.len() > 8 {
        return Err(format!("{} levels; at most 8 are allowed", levels.len()));
    }
    for (i, level) in levels.iter().enumerate() {
        let last = i + 1 == levels.len();
        match *level {
            "" => return Err(format!("level {} is empty", i + 1)),
            "+" => {}
            "#" if last => {}
            "#" => return Err("`#` may only be the last level".into()),
            _ => refuse_chars(level, |_, c| {
                c.is_ascii_alphanumeric() || "_-.:".contains(c)
            })
            .map_err(|e| format!("level {}: {e}", i + 1))?,
        }
    }
    Ok(())
}

/// An address SNS can mail: a conservative subset of RFC 5321.
pub fn email(address: &str) -> Result<(), String> {
    length(address, 3, 254)?;
    let Some((local, domain)) = address.split_once('@') else {
        return Err("an address needs one `@`".into());
    };
    length(local, 1, 64).map_err(|e| format!("local part: {e}"))?;
    refuse_chars(local, |_, c| {
        c.is_ascii_alphanumeric() || "._%+-".contains(c)
    })?;
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err("the local part cannot start or end with `.` or hold `..`".into());
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return Err("the domain needs a dot: `example.org`".into());
    }
    for label in &labels {
        length(label, 1, 63).map_err(|e| format!("domain label: {e}"))?;
        refuse_chars(label, |_, c| c.is_ascii_alphanumeric() || c == '-')?;
        if label.starts_with('-') || label.ends_with('-') {
            return Err("a domain label cannot start or end with `-`".into());
        }
    }
    let tld = labels[labels.len() - 1];
    if tld.len() < 2 || !tld.chars().all(|c| c.is_ascii_alphabetic()) {
        return Err("the last domain label is letters only, at least two".into());
    }
    Ok(())
}

/// `LogicalId` or `stack-name/LogicalId`.
fn waiver_resource(resource: &str) -> Result<(), String> {
    length(resource, 1, 255)?;
    let (stack, logical) = match resource.split_once('/') {
        Some((stack, logical)) => (Some(stack), logical),
        None => (None, resource),
    };
    if let Some(stack) = stack {
        length(stack, 1, 128)?;
        refuse_chars(stack, |_, c| c.is_ascii_alphanumeric() || c == '-')?;
    }
    length(logical, 1, 255)?;
    refuse_chars(logical, |_, c| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn injections_of_the_issue_are_refused() {
        assert!(email("oncall@example.org").is_ok());
        assert!(email("a.b+c@mail.example-hospital.org").is_ok());
        assert!(email("x@example.org\"\n  Evil:").is_err());
        assert!(email("x@localhost").is_err());
        assert!(topic_filter("devices/+/vitals").is_ok());
        assert!(topic_filter("devices/#").is_ok());
        assert!(topic_filter("devices/+/vitals' WHERE 1 = 1 OR 'a' = 'a").is_err());
        assert!(topic_filter("a/#/b").is_err());
        assert!(topic_filter("$aws/things").is_err());
        assert!(topic_filter("a/b/c/d/e/f/g/h/i").is_err());
        assert!(identifier("systolic_bp").is_ok());
        assert!(identifier("${AWS::AccountId}").is_err());
        assert!(identifier("a,b").is_err());
        assert!(identifier("1st").is_err());
        assert!(label_text("mg/dL", 32).is_ok());
        assert!(label_text("x\" ]", 256).is_err());
        assert!(one_line("a | b", 10).is_ok());
        assert!(one_line("a\nb", 10).is_err());
    }

    #[test]
    fn tags_follow_aws() {
        assert!(tag_key("cost-center").is_ok());
        assert!(tag_value("Clinical AI / Ärzte = 2").is_ok());
        assert!(tag_value("").is_err());
        assert!(tag_key("").is_err());
        assert!(tag_key("aws:owner").is_err());
        for bad in [
            "a\nb",
            "a\rb",
            "a\u{7f}",
            "a\u{85}",
            "a\u{2028}",
            "a#b",
            "a\"b",
            "a$b",
        ] {
            assert!(tag_value(bad).is_err(), "{bad:?}");
        }
        let message = tag_value("ab\u{7}").unwrap_err();
        assert_eq!(message, "character 3 (U+0007) is not allowed here");
    }

    #[test]
    fn the_ascii_shortcut_agrees_with_the_tag_regex() {
        let tag = regex::Regex::new(TAG_ALPHABET).unwrap();
        for c in (0u8..=127).map(char::from) {
            let text = format!("a{c}");
            assert_eq!(
                tag_chars(&text).is_ok(),
                tag.is_match(&c.to_string()),
                "{c:?}"
            );
        }
    }
}
