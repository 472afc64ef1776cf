//! Reading CloudFormation templates: resources, properties, references.

use serde_json::Value;

use crate::yaml::Document;

/// One template being judged.
pub(crate) struct Template<'a> {
    pub stack: &'a str,
    pub doc: &'a Document,
}

/// A resource of a template.
#[derive(Clone, Copy)]
pub(crate) struct Resource<'a> {
    pub id: &'a str,
    pub ty: &'a str,
    pub body: &'a Value,
    pub props: &'a Value,
}

static NULL: Value = Value::Null;

impl<'a> Resource<'a> {
    /// JSON pointer to a property path of this resource.
    pub fn ptr(&self, path: &[&str]) -> String {
        let mut p = format!("/Resources/{}", escape(self.id));
        if !path.is_empty() {
            p.push_str("/Properties");
            for seg in path {
                p.push('/');
                p.push_str(&escape(seg));
            }
        }
        p
    }

    /// JSON pointer to a resource attribute (`DeletionPolicy`, ...).
    pub fn attr_ptr(&self, attr: &str) -> String {
        format!("/Resources/{}/{}", escape(self.id), escape(attr))
    }

    pub fn prop(&self, path: &[&str]) -> Option<&'a Value> {
        get(self.props, path)
    }
}

pub(crate) fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// Follow a path of object keys.
pub(crate) fn get<'v>(value: &'v Value, path: &[&str]) -> Option<&'v Value> {
    let mut v = value;
    for seg in path {
        v = v.as_object()?.get(*seg)?;
    }
    (!v.is_null()).then_some(v)
}

impl<'a> Template<'a> {
    /// All resources, sorted by logical id.
    pub fn resources(&self) -> Vec<Resource<'a>> {
        let mut out: Vec<Resource<'a>> = self
            .doc
            .value
            .get("Resources")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(id, body)| Resource {
                        id: id.as_str(),
                        ty: body.get("Type").and_then(Value::as_str).unwrap_or(""),
                        body,
                        props: body.get("Properties").unwrap_or(&NULL),
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.sort_by(|a, b| a.id.cmp(b.id));
        out
    }

    pub fn of_type(&self, ty: &str) -> Vec<Resource<'a>> {
        self.resources()
            .into_iter()
            .filter(|r| r.ty == ty)
            .collect()
    }

    pub fn resource(&self, id: &str) -> Option<Resource<'a>> {
        self.resources().into_iter().find(|r| r.id == id)
    }
}

/// Items of a value that may be a single item or a list of items.
pub(crate) fn items(value: Option<&Value>) -> Vec<&Value> {
    match value {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(Value::Null) | None => Vec::new(),
        Some(v) => vec![v],
    }
}

/// `true`, or the string `"true"` (CloudFormation accepts both).
pub(crate) fn is_true(value: Option<&Value>) -> bool {
    match value {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

pub(crate) fn is_false(value: Option<&Value>) -> bool {
    match value {
        Some(Value::Bool(b)) => !*b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("false"),
        _ => false,
    }
}

pub(crate) fn str_of(value: Option<&Value>) -> Option<&str> {
    value.and_then(Value::as_str)
}

/// The logical id a value refers to (`Ref`, `Fn::GetAtt`, or a `Fn::Sub`
/// that is exactly one `${X}` / `${X.Attr}`).
pub(crate) fn ref_target(value: &Value) -> Option<&str> {
    let obj = value.as_object()?;
    if obj.len() != 1 {
        return None;
    }
    if let Some(Value::String(s)) = obj.get("Ref") {
        return Some(s);
    }
    match obj.get("Fn::GetAtt") {
        Some(Value::Array(a)) => return a.first().and_then(Value::as_str),
        Some(Value::String(s)) => return s.split('.').next(),
        _ => {}
    }
    let sub = match obj.get("Fn::Sub") {
        Some(Value::String(s)) => s.as_str(),
        Some(Value::Array(a)) => a.first().and_then(Value::as_str)?,
        _ => return None,
    };
    let inner = sub.strip_prefix("${")?.strip_suffix('}')?;
    (!inner.contains('}')).then(|| inner.split('.').next().unwrap_or(inner))
}

/// A string rendering of an ARN-like value: literals as-is, `Ref X` as
/// `${X}`, `GetAtt X.A` as `${X.A}`, `Sub` text as written, `Join` joined.
pub(crate) fn arn_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Object(obj) if obj.len() == 1 => {
            let (k, v) = obj.iter().next()?;
            match (k.as_str(), v) {
                ("Ref", Value::String(s)) => Some(format!("${{{s}}}")),
                ("Fn::GetAtt", Value::Array(a)) if a.len() == 2 => {
                    Some(format!("${{{}.{}}}", a[0].as_str()?, a[1].as_str()?))
                }
                ("Fn::GetAtt", Value::String(s)) => Some(format!("${{{s}}}")),
                ("Fn::Sub", Value::String(s)) => Some(s.clone()),
                ("Fn::Sub", Value::Array(a)) => a.first().and_then(Value::as_str).map(String::from),
                ("Fn::Join", Value::Array(a)) if a.len() == 2 => {
                    let sep = a[0].as_str()?;
                    let parts = a[1].as_array()?;
                    let texts: Option<Vec<String>> = parts.iter().map(arn_text).collect();
                    Some(texts?.join(sep))
                }
                _ => None,
            }
        }
        _ => None,
    }
}

/// Judge a KMS key reference: it must be present and name a customer-managed
/// key (a key or alias of this template, a parameter or import, or a key ARN
/// that is not an AWS-managed `alias/aws/...`).
pub(crate) fn cmk(tpl: &Template, value: Option<&Value>) -> Result<(), String> {
    let Some(v) = value else {
        return Err("no KMS key is set".into());
    };
    if let Some(target) = ref_target(v) {
        return match tpl.resource(target) {
            Some(r) if r.ty == "AWS::KMS::Key" || r.ty == "AWS::KMS::Alias" => Ok(()),
            Some(r) => Err(format!(
                "the key refers to `{target}`, a {}, not a KMS key",
                r.ty
            )),
            None => Ok(()), // a parameter or pseudo parameter supplied at deploy time
        };
    }
    cmk_text(tpl, v)
}

fn cmk_text(tpl: &Template, v: &Value) -> Result<(), String> {
    if let Some(obj) = v.as_object() {
        if obj.contains_key("Fn::ImportValue") || obj.contains_key("Get") {
            return Ok(());
        }
        if let Some(Value::Array(branches)) = obj.get("Fn::If") {
            if branches.len() == 3 {
                cmk(tpl, Some(&branches[1]))?;
                return cmk(tpl, Some(&branches[2]));
            }
        }
    }
    let Some(text) = arn_text(v) else {
        return Err("the KMS key reference cannot be read".into());
    };
    let text = text.trim();
    if text.is_empty() {
        return Err("the KMS key is empty".into());
    }
    if text.contains("alias/aws/") {
        return Err(format!(
            "`{text}` is an AWS-managed key, not a customer-managed key"
        ));
    }
    let inner = text.strip_prefix("${").and_then(|t| t.strip_suffix('}'));
    if let Some(inner) = inner.filter(|i| !i.contains('}')) {
        let id = inner.split('.').next().unwrap_or(inner);
        if let Some(r) = tpl.resource(id) {
            if r.ty != "AWS::KMS::Key" && r.ty != "AWS::KMS::Alias" {
                return Err(format!(
                    "the key refers to `{id}`, a {}, not a KMS key",
                    r.ty
                ));
            }
        }
    }
    Ok(())
}

/// Whether a policy principal means "anyone".
pub(crate) fn principal_is_star(principal: Option<&Value>) -> bool {
    match principal {
        Some(Value::String(s)) => s == "*",
        Some(Value::Object(m)) => items(m.get("AWS")).iter().any(|v| v.as_str() == Some("*")),
        _ => false,
    }
}

/// Action names of a statement (`Action` as a string or list).
pub(crate) fn actions(stmt: &Value) -> Vec<&str> {
    items(stmt.get("Action"))
        .into_iter()
        .filter_map(Value::as_str)
        .collect()
}

/// Whether a resource-policy statement refuses every request made without
/// TLS: Deny, for anyone, on every action of `service` (or `*`), when
/// `aws:SecureTransport` is false. S3 buckets and SQS queues are held to the
/// same statement; which resources it covers is for the caller to judge.
pub(crate) fn denies_insecure_transport(stmt: &Value, service: &str) -> bool {
    let every_action = format!("{service}:*");
    str_of(stmt.get("Effect")) == Some("Deny")
        && actions(stmt)
            .iter()
            .any(|a| *a == "*" || a.eq_ignore_ascii_case(&every_action))
        && principal_is_star(stmt.get("Principal"))
        && stmt
            .get("Condition")
            .and_then(|c| c.get("Bool"))
            .is_some_and(|b| is_false(b.get("aws:SecureTransport")))
}

/// Policy statements with their JSON pointers, given the document's pointer.
pub(crate) fn statements<'v>(doc: &'v Value, doc_ptr: &str) -> Vec<(String, &'v Value)> {
    match doc.get("Statement") {
        Some(Value::Array(a)) => a
            .iter()
            .enumerate()
            .map(|(i, s)| (format!("{doc_ptr}/Statement/{i}"), s))
            .collect(),
        Some(s @ Value::Object(_)) => vec![(format!("{doc_ptr}/Statement"), s)],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(text: &str) -> Document {
        crate::yaml::parse(text).unwrap()
    }

    #[test]
    fn references_are_resolved() {
        assert_eq!(ref_target(&json!({"Ref": "Key"})), Some("Key"));
        assert_eq!(
            ref_target(&json!({"Fn::GetAtt": ["Key", "Arn"]})),
            Some("Key")
        );
        assert_eq!(ref_target(&json!({"Fn::GetAtt": "Key.Arn"})), Some("Key"));
        assert_eq!(ref_target(&json!({"Fn::Sub": "${Key.Arn}"})), Some("Key"));
        assert_eq!(ref_target(&json!({"Fn::Sub": "${Key.Arn}/*"})), None);
        assert_eq!(ref_target(&json!({"Fn::Sub": "${A}${B}"})), None);
        assert_eq!(ref_target(&json!("Key")), None);
    }

    #[test]
    fn arn_text_renders_intrinsics() {
        assert_eq!(
            arn_text(&json!({"Fn::GetAtt": ["B", "Arn"]})).as_deref(),
            Some("${B.Arn}")
        );
        assert_eq!(
            arn_text(&json!({"Fn::Join": ["", [{"Fn::GetAtt": ["B", "Arn"]}, "/*"]]})).as_deref(),
            Some("${B.Arn}/*")
        );
        assert_eq!(
            arn_text(&json!({"Fn::Sub": ["${B.Arn}/*", {}]})).as_deref(),
            Some("${B.Arn}/*")
        );
        assert_eq!(
            arn_text(&json!({"Fn::Join": ["", [{"Fn::If": ["c", "a", "b"]}]]})),
            None
        );
    }

    #[test]
    fn customer_managed_keys_are_told_apart() {
        let d = doc(
            "Parameters:\n  KeyArn:\n    Type: String\nResources:\n  Key:\n    Type: AWS::KMS::Key\n  Alias:\n    Type: AWS::KMS::Alias\n  Topic:\n    Type: AWS::SNS::Topic\n",
        );
        let t = Template {
            stack: "s",
            doc: &d,
        };
        assert!(cmk(&t, Some(&json!({"Fn::GetAtt": ["Key", "Arn"]}))).is_ok());
        assert!(cmk(&t, Some(&json!({"Ref": "Alias"}))).is_ok());
        assert!(cmk(&t, Some(&json!({"Ref": "KeyArn"}))).is_ok());
        assert!(cmk(&t, Some(&json!({"Fn::ImportValue": "shared-key"}))).is_ok());
        assert!(
            cmk(
                &t,
                Some(&json!("arn:aws:kms:eu-west-1:123456789012:key/1234"))
            )
            .is_ok()
        );
        assert!(cmk(&t, Some(&json!("${Key.Arn}"))).is_ok());
        assert!(cmk(&t, None).is_err());
        assert!(cmk(&t, Some(&json!(""))).is_err());
        assert!(cmk(&t, Some(&json!("alias/aws/sns"))).is_err());
        assert!(
            cmk(
                &t,
                Some(&json!("arn:aws:kms:eu-west-1:123456789012:alias/aws/s3"))
            )
            .is_err()
        );
        assert!(cmk(&t, Some(&json!({"Ref": "Topic"}))).is_err());
        assert!(cmk(&t, Some(&json!("${Topic}"))).is_err());
        assert!(
            cmk(
                &t,
                Some(&json!({"Fn::If": ["c", {"Ref": "Key"}, "alias/aws/sns"]}))
            )
            .is_err()
        );
        assert!(
            cmk(
                &t,
                Some(&json!({"Fn::If": ["c", {"Ref": "Key"}, {"Ref": "Alias"}]}))
            )
            .is_ok()
        );
    }

    #[test]
    fn principals_and_statements() {
        assert!(principal_is_star(Some(&json!("*"))));
        assert!(principal_is_star(Some(&json!({"AWS": "*"}))));
        assert!(principal_is_star(Some(
            &json!({"AWS": ["arn:aws:iam::1:role/x", "*"]})
        )));
        assert!(!principal_is_star(Some(
            &json!({"Service": "s3.amazonaws.com"})
        )));
        assert!(!principal_is_star(None));
        let one = json!({"Statement": {"Effect": "Allow"}});
        assert_eq!(statements(&one, "/P")[0].0, "/P/Statement");
        let many = json!({"Statement": [{}, {}]});
        assert_eq!(statements(&many, "/P")[1].0, "/P/Statement/1");
    }

    #[test]
    fn pointers_escape_logical_ids_and_keys() {
        let d = doc("Resources:\n  A:\n    Type: AWS::S3::Bucket\n");
        let t = Template {
            stack: "s",
            doc: &d,
        };
        let r = t.resource("A").unwrap();
        assert_eq!(
            r.ptr(&["Tags", "a/b~c"]),
            "/Resources/A/Properties/Tags/a~1b~0c"
        );
        assert_eq!(r.attr_ptr("DeletionPolicy"), "/Resources/A/DeletionPolicy");
        assert_eq!(r.ptr(&[]), "/Resources/A");
    }
}
