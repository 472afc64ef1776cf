//! How a spec value is written where it lands, so that no value can change
//! the structure around it.
//!
//! Every `{{ value }}` of a YAML or JSON template goes through [`quoted`]
//! (Tera's autoescape, set up by the renderer): templates place values inside
//! double quotes, and the escaped text can neither end that string nor the
//! line. Structured values (lists, maps, other rendered files) reach templates
//! only through `json_encode`, which writes a complete JSON value. The other
//! destinations have a function each, used by the context, because their
//! language has its own quoting: `Fn::Sub` literals, the IoT SQL statement,
//! DQDL strings.

/// The body of a double-quoted string, the same in JSON and YAML (the
/// canonical writer's own quoting): the escaped text can end neither the
/// string nor its line.
pub fn quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    crate::yaml::push_double_quoted_body(&mut out, value);
    out
}

fn needs_code_point(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{FEFF}')
}

/// Tera's `json_encode`, marked safe (its output is a complete JSON value,
/// not text to escape again) and with the characters YAML does not allow in
/// a stream written as escapes, so the value can sit in a YAML template.
pub struct JsonEncode;

impl tera::Filter for JsonEncode {
    fn filter(
        &self,
        value: &tera::Value,
        _: &std::collections::HashMap<String, tera::Value>,
    ) -> tera::Result<tera::Value> {
        let text = serde_json::to_string(value).map_err(tera::Error::json)?;
        // serde_json escapes C0 controls already; the rest can only be inside strings.
        let mut out = String::with_capacity(text.len());
        for c in text.chars() {
            if needs_code_point(c) {
                let _ = std::fmt::Write::write_fmt(&mut out, format_args!("\\u{:04X}", c as u32));
            } else {
                out.push(c);
            }
        }
        Ok(tera::Value::String(out))
    }

    fn is_safe(&self) -> bool {
        true
    }
}

/// A literal inside an `Fn::Sub` string: `${` would start a substitution,
/// `${!` is CloudFormation's way to write it literally.
pub fn sub_literal(value: &str) -> String {
    value.replace("${", "${!")
}

/// The IoT rule's statement for a topic filter. IoT SQL has no escape inside
/// its single-quoted topic, so a filter that could end the quote is refused
/// (validation already allows only AWS's topic grammar; this is the last
/// line, not the first).
pub fn iot_sql(topic: &str) -> Option<String> {
    let quotable = !topic.is_empty()
        && !topic
            .chars()
            .any(|c| c == '\'' || c == '\\' || needs_code_point(c));
    quotable.then(|| format!("SELECT * FROM '{topic}'"))
}

/// A DQDL string literal: double-quoted, with no escape that Glue documents,
/// so a value that could end it is refused (validation allows only values
/// without quotes, backslashes or control characters).
pub fn dqdl_string(value: &str) -> Option<String> {
    let quotable = !value
        .chars()
        .any(|c| c == '"' || c == '\\' || needs_code_point(c));
    quotable.then(|| format!("\"{value}\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_text_reads_back_as_the_value_in_json_and_yaml() {
        for value in [
            "plain",
            "a\"b\\c",
            "x\"\n  Evil:\n    Type: AWS::S3::BucketPolicy",
            "tab\there\r\u{7f}\u{85}\u{9f}\u{2028}\u{2029}\u{feff}end",
            "${AWS::AccountId} ' ] | , #: {a: b}",
        ] {
            let text = format!("\"{}\"", quoted(value));
            assert!(!text.contains('\n'), "{text}");
            let json: String = serde_json::from_str(&text).expect("json");
            assert_eq!(json, value);
            let yaml = crate::yaml::parse_value(&format!("key: {text}\n")).expect("yaml");
            assert_eq!(yaml["key"], serde_json::Value::String(value.into()));
        }
    }

    #[test]
    fn sub_literals_never_substitute() {
        assert_eq!(
            sub_literal("a${AWS::AccountId}b${x}"),
            "a${!AWS::AccountId}b${!x}"
        );
        assert_eq!(sub_literal("no dollar"), "no dollar");
    }

    #[test]
    fn a_quote_never_reaches_iot_sql_or_dqdl() {
        assert_eq!(
            iot_sql("devices/+/vitals").as_deref(),
            Some("SELECT * FROM 'devices/+/vitals'")
        );
        assert_eq!(iot_sql("devices/+/vitals' WHERE 1 = 1 OR 'a' = 'a"), None);
        assert_eq!(dqdl_string("F").as_deref(), Some("\"F\""));
        assert_eq!(dqdl_string("x\" ] Rules"), None);
        assert_eq!(dqdl_string("a\nb"), None);
    }
}
