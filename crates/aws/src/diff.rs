//! What a deploy would change in one stack: resources added, removed and
//! modified (with property paths), and the security-relevant part of it,
//! judged from two templates (deployed or older rendering vs rendered) and,
//! against AWS, refined by the change set's replacement information.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

/// Resource types that hold data or identity: replacing one loses what it holds.
pub const STATEFUL_TYPES: &[&str] = &[
    "AWS::S3::Bucket",
    "AWS::KMS::Key",
    "AWS::Logs::LogGroup",
    "AWS::SageMaker::ModelPackageGroup",
    "AWS::SQS::Queue",
    "AWS::DynamoDB::Table",
    "AWS::RDS::DBInstance",
    "AWS::RDS::DBCluster",
];

/// Properties whose change replaces a resource of the given type (its
/// name), for offline diffs where no change set says so.
const NAME_PROPERTIES: &[(&str, &str)] = &[
    ("AWS::S3::Bucket", "BucketName"),
    ("AWS::Logs::LogGroup", "LogGroupName"),
    ("AWS::SageMaker::ModelPackageGroup", "ModelPackageGroupName"),
    ("AWS::SQS::Queue", "QueueName"),
    ("AWS::DynamoDB::Table", "TableName"),
];

pub fn is_stateful(resource_type: &str) -> bool {
    STATEFUL_TYPES.contains(&resource_type)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Add,
    Remove,
    Modify,
}

/// Whether a modification replaces the resource (CloudFormation's three answers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Replacement {
    Never,
    Conditional,
    True,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResourceChange {
    pub logical_id: String,
    pub resource_type: String,
    pub action: Action,
    /// Changed paths below the resource, e.g. `Properties.KeyPolicy.Statement[1].Action`.
    pub paths: Vec<String>,
    /// `None` when nothing says (an add or remove, or an offline diff of a
    /// property not known to replace).
    pub replacement: Option<Replacement>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SecurityKind {
    StatefulReplacement,
    StatefulRemoval,
    RetainRemoved,
    IamWidened,
    IamNarrowed,
    Encryption,
    PublicAccess,
    NetworkIsolation,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SecurityChange {
    pub kind: SecurityKind,
    pub logical_id: String,
    pub resource_type: String,
    /// True when the change widens access or weakens protection (what
    /// `--require-approval broadening` asks about).
    pub broadening: bool,
    pub detail: String,
}

/// The report for one stack.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StackDiff {
    pub stack_name: String,
    pub region: String,
    /// False when the stack is not deployed (or absent from the older tree): everything is an add.
    pub deployed: bool,
    pub security: Vec<SecurityChange>,
    pub resources: Vec<ResourceChange>,
    /// Parameters whose value changes (from the change set), by name.
    pub parameters: Vec<String>,
}

impl StackDiff {
    pub fn has_changes(&self) -> bool {
        !self.resources.is_empty() || !self.parameters.is_empty()
    }

    pub fn broadening(&self) -> bool {
        self.security.iter().any(|s| s.broadening)
    }

    /// Stateful resources the change would replace.
    pub fn stateful_replacements(&self) -> Vec<&ResourceChange> {
        self.resources
            .iter()
            .filter(|r| {
                r.action == Action::Modify
                    && is_stateful(&r.resource_type)
                    && matches!(
                        r.replacement,
                        Some(Replacement::True | Replacement::Conditional)
                    )
            })
            .collect()
    }

    /// Merges what a change set says (replacement, resources the template
    /// comparison could not see, such as those changed only by a parameter).
    pub fn merge_change_set(&mut self, changes: &[ChangeSetChange]) {
        for change in changes {
            match self
                .resources
                .iter_mut()
                .find(|r| r.logical_id == change.logical_id)
            {
                Some(existing) => {
                    if change.replacement.is_some() {
                        existing.replacement = change.replacement;
                    }
                    for attribute in &change.attributes {
                        if !existing.paths.iter().any(|p| p.ends_with(attribute)) {
                            existing.paths.push(attribute.clone());
                        }
                    }
                }
                None => self.resources.push(ResourceChange {
                    logical_id: change.logical_id.clone(),
                    resource_type: change.resource_type.clone(),
                    action: change.action,
                    paths: change.attributes.clone(),
                    replacement: change.replacement,
                }),
            }
        }
        self.security
            .retain(|s| s.kind != SecurityKind::StatefulReplacement);
        let replaced: Vec<SecurityChange> = self
            .stateful_replacements()
            .into_iter()
            .map(replacement_note)
            .collect();
        self.security.extend(replaced);
        self.security.sort_by_key(|s| s.kind);
    }
}

/// One change of a change set, as the deployer reads it from DescribeChangeSet.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChangeSetChange {
    pub logical_id: String,
    pub resource_type: String,
    pub action: Action,
    pub replacement: Option<Replacement>,
    /// `Properties.X` for property targets, the attribute name otherwise.
    pub attributes: Vec<String>,
}

fn replacement_note(r: &ResourceChange) -> SecurityChange {
    SecurityChange {
        kind: SecurityKind::StatefulReplacement,
        logical_id: r.logical_id.clone(),
        resource_type: r.resource_type.clone(),
        broadening: true,
        detail: format!(
            "{} replacement of a stateful resource: a new one is created and the old one's contents are not carried over ({})",
            match r.replacement {
                Some(Replacement::Conditional) => "possible",
                _ => "",
            },
            if r.paths.is_empty() {
                "change set".to_string()
            } else {
                r.paths.join(", ")
            }
        )
        .trim_start()
        .to_string(),
    }
}

fn resources(template: Option<&Value>) -> BTreeMap<String, &Value> {
    template
        .and_then(|t| t.get("Resources"))
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v)).collect())
        .unwrap_or_default()
}

fn type_of(resource: &Value) -> String {
    resource
        .get("Type")
        .and_then(Value::as_str)
        .unwrap_or("?")
        .to_string()
}

/// Compares two templates of a stack: `old` is the deployed one (or the
/// older rendering), `None` when the stack does not exist yet.
pub fn diff_templates(
    stack_name: &str,
    region: &str,
    old: Option<&Value>,
    new: &Value,
) -> StackDiff {
    let before = resources(old);
    let after = resources(Some(new));
    let mut out = StackDiff {
        stack_name: stack_name.into(),
        region: region.into(),
        deployed: old.is_some(),
        security: Vec::new(),
        resources: Vec::new(),
        parameters: Vec::new(),
    };
    let ids: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    for id in ids {
        match (before.get(id), after.get(id)) {
            (None, Some(new)) => {
                let rtype = type_of(new);
                security_of_statements(&mut out.security, id, &rtype, &[], &statements(new));
                out.resources.push(ResourceChange {
                    logical_id: id.clone(),
                    resource_type: rtype,
                    action: Action::Add,
                    paths: Vec::new(),
                    replacement: None,
                });
            }
            (Some(old), None) => {
                let rtype = type_of(old);
                let retained = old.get("DeletionPolicy").and_then(Value::as_str) == Some("Retain");
                if is_stateful(&rtype) && !retained {
                    out.security.push(SecurityChange {
                        kind: SecurityKind::StatefulRemoval,
                        logical_id: id.clone(),
                        resource_type: rtype.clone(),
                        broadening: true,
                        detail: "stateful resource removed without DeletionPolicy Retain: its contents are deleted".into(),
                    });
                }
                security_of_statements(&mut out.security, id, &rtype, &statements(old), &[]);
                out.resources.push(ResourceChange {
                    logical_id: id.clone(),
                    resource_type: rtype,
                    action: Action::Remove,
                    paths: Vec::new(),
                    replacement: None,
                });
            }
            (Some(old), Some(new)) if old != new => {
                let rtype = type_of(new);
                let mut paths = Vec::new();
                changed_paths("", old, new, &mut paths);
                let mut replacement = None;
                if type_of(old) != rtype {
                    replacement = Some(Replacement::True);
                }
                for (t, prop) in NAME_PROPERTIES {
                    let name = format!("Properties.{prop}");
                    if *t == rtype
                        && paths
                            .iter()
                            .any(|p| p == &name || p.starts_with(&format!("{name}.")))
                    {
                        replacement = Some(Replacement::True);
                    }
                }
                let change = ResourceChange {
                    logical_id: id.clone(),
                    resource_type: rtype.clone(),
                    action: Action::Modify,
                    paths,
                    replacement,
                };
                security_of_modification(&mut out.security, &change, old, new);
                out.resources.push(change);
            }
            _ => {}
        }
    }
    out.security.sort_by_key(|s| s.kind);
    out
}

fn security_of_modification(
    notes: &mut Vec<SecurityChange>,
    change: &ResourceChange,
    old: &Value,
    new: &Value,
) {
    let id = &change.logical_id;
    let rtype = &change.resource_type;
    let mut note = |kind, broadening, detail: String| {
        notes.push(SecurityChange {
            kind,
            logical_id: id.clone(),
            resource_type: rtype.clone(),
            broadening,
            detail,
        })
    };
    for attr in ["DeletionPolicy", "UpdateReplacePolicy"] {
        let was = old.get(attr).and_then(Value::as_str) == Some("Retain");
        let is = new.get(attr).and_then(Value::as_str) == Some("Retain");
        if was && !is {
            note(
                SecurityKind::RetainRemoved,
                true,
                format!("{attr} Retain removed: deleting the stack would delete this resource"),
            );
        }
    }
    for path in &change.paths {
        let lower = path.to_ascii_lowercase();
        let removed = pointer(new, path).is_none();
        let added = pointer(old, path).is_none();
        let verb = if removed {
            "removed"
        } else if added {
            "added"
        } else {
            "changed"
        };
        if lower.contains("kms") || lower.contains("encrypt") || lower.contains("sse") {
            note(
                SecurityKind::Encryption,
                removed,
                format!("encryption setting {verb}: {path}"),
            );
        } else if lower.contains("public") {
            note(
                SecurityKind::PublicAccess,
                public_widened(old, new, path),
                format!("public access setting {verb}: {path}"),
            );
        } else if lower.contains("networkisolation")
            || lower.contains("vpcconfig")
            || lower.contains("securitygroup")
            || lower.contains("subnet")
            || lower.contains("ingress")
            || lower.contains("egress")
        {
            let widened = removed
                || (lower.contains("networkisolation")
                    && pointer(new, path) == Some(&Value::Bool(false)));
            note(
                SecurityKind::NetworkIsolation,
                widened,
                format!("network isolation setting {verb}: {path}"),
            );
        }
    }
    security_of_statements(notes, id, rtype, &statements(old), &statements(new));
}

/// A `PublicAccessBlockConfiguration` flag turned off (or removed) widens access.
fn public_widened(old: &Value, new: &Value, path: &str) -> bool {
    match (pointer(old, path), pointer(new, path)) {
        (_, None) => true,
        (Some(Value::Bool(true)), Some(Value::Bool(false))) => true,
        (Some(Value::Object(_)), Some(Value::Object(n))) => {
            n.values().any(|v| v == &Value::Bool(false))
        }
        _ => false,
    }
}

/// Follows a path as [`changed_paths`] writes it.
fn pointer<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    let mut current = value;
    for part in path.split('.') {
        let (key, indexes) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            current = current.get(key)?;
        }
        for index in indexes.split(['[', ']']).filter(|s| !s.is_empty()) {
            current = current.get(index.parse::<usize>().ok()?)?;
        }
    }
    Some(current)
}

/// Leaf-most paths where `old` and `new` differ; arrays of different
/// lengths are reported as a whole.
fn changed_paths(prefix: &str, old: &Value, new: &Value, out: &mut Vec<String>) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for key in keys {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                match (a.get(key), b.get(key)) {
                    (Some(x), Some(y)) => changed_paths(&path, x, y, out),
                    (None, None) => {}
                    _ => out.push(path),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                changed_paths(&format!("{prefix}[{i}]"), x, y, out);
            }
        }
        _ if old != new => out.push(prefix.to_string()),
        _ => {}
    }
}

/// One IAM statement, normalized so order within lists does not matter.
#[derive(Debug, Clone, PartialEq)]
struct Statement {
    /// `Sid` when given, else the canonical text.
    key: String,
    allow: bool,
    actions: BTreeSet<String>,
    resources: BTreeSet<String>,
    principals: BTreeSet<String>,
    condition: Option<String>,
    /// Where it sits, e.g. `Properties.PolicyDocument.Statement[0]`.
    path: String,
}

fn strings(value: Option<&Value>) -> BTreeSet<String> {
    match value {
        None => BTreeSet::new(),
        Some(Value::Array(items)) => items.iter().map(text).collect(),
        Some(Value::Object(map))
            if map.len() == 1 && map.keys().all(|k| k.starts_with("Fn::") || k == "Ref") =>
        {
            BTreeSet::from([text(value.unwrap_or(&Value::Null))])
        }
        Some(Value::Object(map)) => map
            .iter()
            .flat_map(|(kind, v)| {
                strings(Some(v))
                    .into_iter()
                    .map(move |s| format!("{kind}:{s}"))
            })
            .collect(),
        Some(other) => BTreeSet::from([text(other)]),
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Every policy statement anywhere below a resource's properties.
fn statements(resource: &Value) -> Vec<Statement> {
    fn walk(value: &Value, path: String, out: &mut Vec<Statement>) {
        match value {
            Value::Object(map) => {
                if let Some(statements) = map.get("Statement") {
                    let list: Vec<&Value> = match statements {
                        Value::Array(items) => items.iter().collect(),
                        one => vec![one],
                    };
                    for (i, s) in list.into_iter().enumerate() {
                        let actions = strings(s.get("Action").or_else(|| s.get("NotAction")));
                        out.push(Statement {
                            key: s
                                .get("Sid")
                                .and_then(Value::as_str)
                                .map(str::to_string)
                                .unwrap_or_else(|| s.to_string()),
                            allow: s.get("Effect").and_then(Value::as_str) != Some("Deny"),
                            actions,
                            resources: strings(s.get("Resource").or_else(|| s.get("NotResource"))),
                            principals: strings(s.get("Principal")),
                            condition: s.get("Condition").map(Value::to_string),
                            path: format!("{path}.Statement[{i}]"),
                        });
                    }
                }
                for (k, v) in map {
                    if k != "Statement" {
                        walk(v, format!("{path}.{k}"), out);
                    }
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    walk(v, format!("{path}[{i}]"), out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Some(props) = resource.get("Properties") {
        walk(props, "Properties".into(), &mut out);
    }
    out
}

fn describe(s: &Statement) -> String {
    let list = |set: &BTreeSet<String>| set.iter().cloned().collect::<Vec<_>>().join(", ");
    let mut text = format!(
        "{} {}",
        if s.allow { "Allow" } else { "Deny" },
        list(&s.actions)
    );
    if !s.principals.is_empty() {
        text.push_str(&format!(" to {}", list(&s.principals)));
    }
    if !s.resources.is_empty() {
        text.push_str(&format!(" on {}", list(&s.resources)));
    }
    if s.condition.is_some() {
        text.push_str(" (with condition)");
    }
    text
}

fn security_of_statements(
    notes: &mut Vec<SecurityChange>,
    id: &str,
    rtype: &str,
    old: &[Statement],
    new: &[Statement],
) {
    let mut note = |widened: bool, detail: String| {
        notes.push(SecurityChange {
            kind: if widened {
                SecurityKind::IamWidened
            } else {
                SecurityKind::IamNarrowed
            },
            logical_id: id.into(),
            resource_type: rtype.into(),
            broadening: widened,
            detail,
        })
    };
    for s in new {
        let public = s.allow && s.principals.iter().any(|p| p == "*" || p == "AWS:*");
        match old.iter().find(|o| o.key == s.key) {
            None => note(
                s.allow,
                format!(
                    "statement added at {}: {}{}",
                    s.path,
                    describe(s),
                    if public { " [public principal]" } else { "" }
                ),
            ),
            Some(o) if o != s && o.allow == s.allow => {
                let more = |a: &BTreeSet<String>, b: &BTreeSet<String>| {
                    b.difference(a).cloned().collect::<Vec<_>>()
                };
                let mut widened = Vec::new();
                let mut narrowed = Vec::new();
                for (label, a, b) in [
                    ("action", &o.actions, &s.actions),
                    ("resource", &o.resources, &s.resources),
                    ("principal", &o.principals, &s.principals),
                ] {
                    for x in more(a, b) {
                        widened.push(format!("+{label} {x}"));
                    }
                    for x in more(b, a) {
                        narrowed.push(format!("-{label} {x}"));
                    }
                }
                match (&o.condition, &s.condition) {
                    (Some(_), None) => widened.push("-condition".into()),
                    (None, Some(_)) => narrowed.push("+condition".into()),
                    (Some(a), Some(b)) if a != b => widened.push("condition changed".into()),
                    _ => {}
                }
                // For a Deny, more actions narrow and fewer widen.
                if !s.allow {
                    std::mem::swap(&mut widened, &mut narrowed);
                }
                if !widened.is_empty() {
                    note(
                        true,
                        format!("statement {} widened: {}", s.path, widened.join(", ")),
                    );
                }
                if !narrowed.is_empty() {
                    note(
                        false,
                        format!("statement {} narrowed: {}", s.path, narrowed.join(", ")),
                    );
                }
            }
            Some(o) if o != s => {
                note(
                    !s.allow,
                    format!("statement {} changed effect: {}", s.path, describe(s)),
                );
            }
            _ => {}
        }
    }
    for o in old {
        if !new.iter().any(|s| s.key == o.key) {
            note(
                !o.allow,
                format!("statement removed from {}: {}", o.path, describe(o)),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn bucket(extra: Value) -> Value {
        let mut b = json!({
            "Type": "AWS::S3::Bucket",
            "DeletionPolicy": "Retain",
            "Properties": {
                "BucketName": "raw",
                "BucketEncryption": {"ServerSideEncryptionConfiguration": [
                    {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "k"}}
                ]},
                "PublicAccessBlockConfiguration": {"BlockPublicAcls": true, "BlockPublicPolicy": true}
            }
        });
        if let (Some(b), Some(e)) = (b.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                b.insert(k.clone(), v.clone());
            }
        }
        b
    }

    fn role(actions: Value) -> Value {
        json!({"Type": "AWS::IAM::ManagedPolicy", "Properties": {"PolicyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Sid": "Read", "Effect": "Allow", "Action": actions, "Resource": "arn:aws:s3:::raw/*"}]
        }}})
    }

    fn template(resources: Value) -> Value {
        json!({ "Resources": resources })
    }

    #[test]
    fn not_deployed_is_all_add() {
        let new =
            template(json!({"Raw": bucket(json!({})), "Policy": role(json!("s3:GetObject"))}));
        let d = diff_templates("s", "eu-west-1", None, &new);
        assert!(!d.deployed);
        assert!(d.resources.iter().all(|r| r.action == Action::Add));
        assert_eq!(d.resources.len(), 2);
        assert!(
            d.security
                .iter()
                .any(|s| s.kind == SecurityKind::IamWidened)
        );
    }

    #[test]
    fn same_templates_have_no_changes() {
        let t = template(json!({"Raw": bucket(json!({}))}));
        assert!(!diff_templates("s", "r", Some(&t), &t).has_changes());
    }

    #[test]
    fn widened_statement_and_property_paths() {
        let old = template(json!({"Policy": role(json!("s3:GetObject"))}));
        let new = template(json!({"Policy": role(json!(["s3:GetObject", "s3:DeleteObject"]))}));
        let d = diff_templates("s", "r", Some(&old), &new);
        assert_eq!(d.resources[0].action, Action::Modify);
        assert_eq!(
            d.resources[0].paths,
            ["Properties.PolicyDocument.Statement[0].Action"]
        );
        let s = &d.security[0];
        assert_eq!(s.kind, SecurityKind::IamWidened);
        assert!(s.broadening);
        assert!(s.detail.contains("+action s3:DeleteObject"), "{}", s.detail);
        // and back: narrowed, not broadening
        let back = diff_templates("s", "r", Some(&new), &old);
        assert_eq!(back.security[0].kind, SecurityKind::IamNarrowed);
        assert!(!back.broadening());
    }

    #[test]
    fn encryption_public_access_and_retain() {
        let old = template(json!({"Raw": bucket(json!({}))}));
        let mut weaker = bucket(json!({}));
        weaker.as_object_mut().unwrap().remove("DeletionPolicy");
        let props = weaker["Properties"].as_object_mut().unwrap();
        props.remove("BucketEncryption");
        props["PublicAccessBlockConfiguration"]["BlockPublicPolicy"] = json!(false);
        let new = template(json!({ "Raw": weaker }));
        let d = diff_templates("s", "r", Some(&old), &new);
        let kinds: Vec<SecurityKind> = d.security.iter().map(|s| s.kind).collect();
        assert_eq!(
            kinds,
            [
                SecurityKind::RetainRemoved,
                SecurityKind::Encryption,
                SecurityKind::PublicAccess
            ]
        );
        assert!(d.security.iter().all(|s| s.broadening));
    }

    #[test]
    fn renamed_bucket_is_a_stateful_replacement() {
        let old = template(json!({"Raw": bucket(json!({}))}));
        let mut renamed = bucket(json!({}));
        renamed["Properties"]["BucketName"] = json!("raw-2");
        let mut d = diff_templates("s", "r", Some(&old), &template(json!({ "Raw": renamed })));
        assert_eq!(d.resources[0].replacement, Some(Replacement::True));
        assert_eq!(d.stateful_replacements().len(), 1);
        // the change set's word is final, and its note lands in the security section
        d.merge_change_set(&[ChangeSetChange {
            logical_id: "Raw".into(),
            resource_type: "AWS::S3::Bucket".into(),
            action: Action::Modify,
            replacement: Some(Replacement::True),
            attributes: vec!["Properties.BucketName".into()],
        }]);
        assert_eq!(
            d.security
                .iter()
                .filter(|s| s.kind == SecurityKind::StatefulReplacement)
                .count(),
            1
        );
    }

    #[test]
    fn change_set_adds_what_templates_cannot_show() {
        let t = template(json!({"Raw": bucket(json!({}))}));
        let mut d = diff_templates("s", "r", Some(&t), &t);
        d.merge_change_set(&[ChangeSetChange {
            logical_id: "Model".into(),
            resource_type: "AWS::SageMaker::Model".into(),
            action: Action::Modify,
            replacement: Some(Replacement::True),
            attributes: vec!["Properties.PrimaryContainer".into()],
        }]);
        assert!(d.has_changes());
        assert!(d.stateful_replacements().is_empty());
    }

    #[test]
    fn removing_an_unretained_store_is_flagged() {
        let mut b = bucket(json!({}));
        b.as_object_mut().unwrap().remove("DeletionPolicy");
        let old = template(json!({ "Raw": b }));
        let d = diff_templates("s", "r", Some(&old), &template(json!({})));
        assert_eq!(d.security[0].kind, SecurityKind::StatefulRemoval);
    }
}
