//! What the other scanners must be told: every waiver (the spec's and the
//! design's, see `audit::design_waivers`) and every exception the design
//! makes where cdk-nag asks more than the audit, written into the resource's
//! `Metadata` where cdk-nag (`cdk_nag.rules_to_suppress: [{id, reason}]`) and
//! checkov (`checkov.skip: [{id, comment}]`) read them. The text comes from
//! the waiver itself ([`waiver_reason`]), so a reviewer reads the same
//! reason, owner and expiry in `compliance.md`, cdk-nag and checkov.

use serde_json::{Map, Value, json};

use crate::audit::{
    ControlId, DESIGN_EXPIRES, DESIGN_OWNER, STAR_ONLY_ACTIONS, Waiver, scanner_rules,
    suppression_reason, waiver_reason,
};

/// The newest Python runtime CloudFormation's resource schema (and so
/// cfn-lint) accepts; cdk-nag's `AwsSolutions-L1` asks for a newer one that
/// aws-cdk-lib already knows.
pub const NEWEST_SCHEMA_PYTHON: &str = "python3.14";

/// ARN resource types whose ids the service generates, so a policy can name
/// the type but no id: the network interfaces VPC access creates (in subnets,
/// with security groups) and the trials SageMaker Pipelines creates.
const GENERATED_IDS: &[(&str, &str)] = &[
    ("ec2", "network-interface"),
    ("ec2", "security-group"),
    ("ec2", "subnet"),
    ("sagemaker", "experiment-trial"),
    ("sagemaker", "experiment-trial-component"),
];

const SCOPED_WILDCARDS: &str = "each wildcard is below a resource named here, stands for ids the service generates or is pinned by a Condition";

const STAR_RESOURCE: &str =
    "Resource \"*\" only for actions IAM authorises on nothing narrower, with a Condition";

const DEFAULT_SECURITY_GROUP: &str = "CloudFormation cannot close a default security group without a custom resource; nothing uses it, every job, endpoint and function has its own HTTPS-only group";

const IAM_AUTHORIZATION: &str =
    "callers sign requests with IAM (AWS_IAM); there are no end users for a Cognito user pool";

/// One suppression: the scanner's rule id and the text it shows.
struct Suppression {
    id: String,
    reason: String,
    applies_to: Option<Value>,
}

/// Write every suppression that applies to a resource of `template` (the
/// stack `stack`) into its `Metadata`, after whatever the template wrote
/// there itself. Idempotent.
pub fn annotate(template: &mut Value, stack: &str, waivers: &[Waiver]) {
    let Some(resources) = template.get_mut("Resources").and_then(Value::as_object_mut) else {
        return;
    };
    for (id, resource) in resources.iter_mut() {
        let (mut cdk_nag, mut checkov) = (Vec::new(), Vec::new());
        for w in waivers.iter().filter(|w| w.covers(stack, id)) {
            let Ok(control) = w.rule.parse::<ControlId>() else {
                continue;
            };
            let rules = scanner_rules(control);
            for rule in rules.cdk_nag {
                cdk_nag.push(Suppression {
                    id: rule.to_string(),
                    reason: waiver_reason(w),
                    applies_to: None,
                });
            }
            for rule in rules.checkov {
                checkov.push(Suppression {
                    id: rule.to_string(),
                    reason: waiver_reason(w),
                    applies_to: None,
                });
            }
        }
        cdk_nag.extend(design_exceptions(resource));
        if cdk_nag.is_empty() && checkov.is_empty() {
            continue;
        }
        write(resource, cdk_nag, checkov);
    }
}

/// The design's exceptions where cdk-nag asks more than the audit.
fn design_exceptions(resource: &Value) -> Vec<Suppression> {
    let by_design = |rule: &str, reason: &str, applies_to: Option<Value>| Suppression {
        id: rule.to_string(),
        reason: suppression_reason(reason, rule, DESIGN_OWNER, DESIGN_EXPIRES),
        applies_to,
    };
    let prop = |name: &str| resource.pointer(&format!("/Properties/{name}"));
    let mut out = Vec::new();
    match resource["Type"].as_str().unwrap_or_default() {
        "AWS::EC2::VPC" => out.push(by_design(
            "HIPAA.Security-VPCDefaultSecurityGroupClosed",
            DEFAULT_SECURITY_GROUP,
            None,
        )),
        "AWS::ApiGateway::Method"
            if prop("AuthorizationType").and_then(Value::as_str) == Some("AWS_IAM") =>
        {
            out.push(by_design("AwsSolutions-COG4", IAM_AUTHORIZATION, None))
        }
        "AWS::Lambda::Function"
            if prop("Runtime").and_then(Value::as_str) == Some(NEWEST_SCHEMA_PYTHON) =>
        {
            out.push(by_design(
                "AwsSolutions-L1",
                &format!(
                    "{NEWEST_SCHEMA_PYTHON} is the newest Python runtime CloudFormation's resource schema accepts"
                ),
                None,
            ))
        }
        "AWS::IAM::ManagedPolicy" => {
            let w = wildcards(prop("PolicyDocument").unwrap_or(&Value::Null));
            if !w.scoped.is_empty() {
                out.push(by_design(
                    "AwsSolutions-IAM5",
                    SCOPED_WILDCARDS,
                    Some(json!(w.scoped)),
                ));
            }
            if w.star && !w.bad_star {
                out.push(by_design(
                    "AwsSolutions-IAM5",
                    STAR_RESOURCE,
                    Some(json!(["Resource::*"])),
                ));
            }
        }
        _ => {}
    }
    out
}

/// The wildcard resources of a policy's Allow statements, sorted into what
/// may be suppressed and what may not.
#[derive(Debug, Default, PartialEq, Eq)]
struct Wildcards {
    /// cdk-nag's findings (`Resource::…`) of the wildcards below a named
    /// resource, over generated ids, or pinned by a Condition. A wildcard
    /// none of that limits is left out: it must be narrowed, not suppressed.
    scoped: Vec<String>,
    /// `Resource: "*"` for actions that support nothing narrower, with a Condition.
    star: bool,
    /// `Resource: "*"` otherwise.
    bad_star: bool,
}

fn wildcards(doc: &Value) -> Wildcards {
    let mut out = Wildcards::default();
    let list = |v: Option<&Value>| match v {
        Some(Value::Array(items)) => items.clone(),
        Some(v) => vec![v.clone()],
        None => Vec::new(),
    };
    for stmt in list(doc.get("Statement")) {
        if stmt["Effect"] != "Allow" {
            continue;
        }
        let actions: Vec<String> = list(stmt.get("Action"))
            .iter()
            .filter_map(|a| a.as_str().map(str::to_string))
            .collect();
        let condition = stmt.get("Condition").is_some();
        for resource in list(stmt.get("Resource")) {
            let Some(text) = literal(&resource) else {
                continue;
            };
            if !text.contains('*') {
                continue;
            }
            if text == "*" {
                let star_only = !actions.is_empty()
                    && actions
                        .iter()
                        .all(|a| STAR_ONLY_ACTIONS.contains(&a.as_str()));
                if star_only && condition {
                    out.star = true;
                } else {
                    out.bad_star = true;
                }
            } else if scoped(text, condition) {
                let finding = format!("Resource::{}", flatten(&resource));
                if !out.scoped.contains(&finding) {
                    out.scoped.push(finding);
                }
            }
        }
    }
    out
}

/// The text of a resource written as a string or a `Fn::Sub`.
fn literal(v: &Value) -> Option<&str> {
    match v {
        Value::String(s) => Some(s),
        Value::Object(o) => match o.get("Fn::Sub")? {
            Value::String(s) => Some(s),
            Value::Array(a) => a.first()?.as_str(),
            _ => None,
        },
        _ => None,
    }
}

/// A resource as cdk-nag names it in a finding: `${X}` of a `Fn::Sub` string
/// becomes `<X>`, `Ref` `<X>`, `Fn::GetAtt` `<X.Attr>`, `Fn::Join` joins,
/// anything else is its compact JSON (cdk-nag's `flattenCfnReference`).
fn flatten(v: &Value) -> String {
    let get = |key: &str| v.as_object().and_then(|o| o.get(key));
    if let Value::String(s) = v {
        return s.replace("${", "<").replace('}', ">");
    }
    if let Some(Value::Array(join)) = get("Fn::Join")
        && let [Value::String(delimiter), Value::Array(items)] = &join[..]
    {
        return items
            .iter()
            .map(flatten)
            .collect::<Vec<_>>()
            .join(delimiter);
    }
    if let Some(sub) = get("Fn::Sub") {
        return flatten(sub);
    }
    if let Some(Value::Array(att)) = get("Fn::GetAtt")
        && let [resource, attribute] = &att[..]
    {
        return format!("<{}.{}>", flatten(resource), flatten(attribute));
    }
    if let Some(import) = get("Fn::ImportValue") {
        return flatten(import);
    }
    if let Some(r) = get("Ref") {
        return format!("<{}>", flatten(r));
    }
    serde_json::to_string(v).expect("JSON values serialize")
}

/// Whether the wildcard in a resource (not `*` itself) is limited: something
/// named comes before it, it stands for generated ids, or a Condition pins
/// the KMS key it grants.
fn scoped(text: &str, condition: bool) -> bool {
    // `${AWS::Region}` holds colons of its own: each `${…}` becomes `#`.
    let mut masked = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("${") {
        masked.push_str(&rest[..i]);
        match rest[i..].find('}') {
            Some(j) => {
                masked.push('#');
                rest = &rest[i + j + 1..];
            }
            None => {
                rest = &rest[i..];
                break;
            }
        }
    }
    masked.push_str(rest);
    let before = &masked[..masked.find('*').unwrap_or(masked.len())];
    let Some(arn) = before.strip_prefix("arn:") else {
        // Below a referenced resource: `${Bucket}/prefix/*`, `${Group.Arn}:*`.
        return before.len() >= 2 && before.starts_with('#') && before[1..].starts_with(['/', ':']);
    };
    let parts: Vec<&str> = arn.splitn(5, ':').collect();
    let [_, service, _, _, resource] = parts[..] else {
        return false;
    };
    if service == "s3" {
        // `bucket/…*`: a bucket name comes first.
        return !resource.is_empty() && !resource.starts_with('/');
    }
    let (kind, name) = match resource.find(['/', ':']) {
        Some(i) => (&resource[..i], &resource[i + 1..]),
        None => (resource, ""),
    };
    !name.is_empty()
        || GENERATED_IDS.contains(&(service, kind))
        || (service == "kms" && kind == "key" && condition)
}

/// Append the suppressions to the resource's `Metadata` (placed before
/// `Properties` when the template wrote none), one per rule and finding.
fn write(resource: &mut Value, cdk_nag: Vec<Suppression>, checkov: Vec<Suppression>) {
    let Some(body) = resource.as_object_mut() else {
        return;
    };
    if !body.contains_key("Metadata") {
        let mut ordered = Map::new();
        for (k, v) in std::mem::take(body) {
            if k == "Properties" {
                ordered.insert("Metadata".into(), json!({}));
            }
            ordered.insert(k, v);
        }
        ordered.entry("Metadata").or_insert_with(|| json!({}));
        *body = ordered;
    }
    let Some(meta) = body.get_mut("Metadata").and_then(Value::as_object_mut) else {
        return;
    };
    let mut push = |scanner: &str, list: &str, text: &str, items: Vec<Suppression>| {
        if items.is_empty() {
            return;
        }
        let entry = meta.entry(scanner).or_insert_with(|| json!({}));
        let Some(entry) = entry.as_object_mut() else {
            return;
        };
        let list = entry.entry(list).or_insert_with(|| json!([]));
        let Some(list) = list.as_array_mut() else {
            return;
        };
        for s in items {
            let key = (s.id.as_str(), s.applies_to.as_ref());
            if list
                .iter()
                .any(|e| (e["id"].as_str().unwrap_or_default(), e.get("applies_to")) == key)
            {
                continue;
            }
            let mut item = Map::new();
            item.insert("id".into(), json!(s.id));
            item.insert(text.into(), json!(s.reason));
            if let Some(a) = s.applies_to {
                item.insert("applies_to".into(), a);
            }
            list.push(Value::Object(item));
        }
    };
    push("cdk_nag", "rules_to_suppress", "reason", cdk_nag);
    push("checkov", "skip", "comment", checkov);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_below_a_name_are_scoped_and_bare_types_are_not() {
        let p = "arn:${AWS::Partition}";
        for ok in [
            format!("{p}:logs:${{AWS::Region}}:${{AWS::AccountId}}:log-group:/aws/sagemaker/*"),
            format!("{p}:s3:::dx-raw-${{AWS::AccountId}}/incoming/*"),
            format!("{p}:ec2:${{AWS::Region}}:${{AWS::AccountId}}:network-interface/*"),
            format!("{p}:sagemaker:${{AWS::Region}}:${{AWS::AccountId}}:experiment/dx-prod*"),
            "${Bucket}/capture/*".to_string(),
            "${FlowLogGroup.Arn}:log-stream:*".to_string(),
        ] {
            assert!(scoped(&ok, false), "{ok}");
        }
        for bad in [
            format!("{p}:logs:${{AWS::Region}}:${{AWS::AccountId}}:log-group:*"),
            format!("{p}:ecr:${{AWS::Region}}:${{AWS::AccountId}}:repository/*"),
            format!("{p}:kms:${{AWS::Region}}:${{AWS::AccountId}}:key/*"),
            format!("{p}:s3:::*"),
        ] {
            assert!(!scoped(&bad, false), "{bad}");
        }
        assert!(scoped(
            &format!("{p}:kms:eu-central-1:${{AWS::AccountId}}:key/*"),
            true
        ));
    }

    #[test]
    fn a_policy_with_an_unscoped_wildcard_gets_no_suppression_of_it() {
        let policy = |resource: &str, actions: &[&str], condition: bool| {
            let mut stmt = json!({"Effect": "Allow", "Action": actions, "Resource": resource});
            if condition {
                stmt["Condition"] = json!({"StringEquals": {"aws:SourceAccount": "1"}});
            }
            json!({
                "Type": "AWS::IAM::ManagedPolicy",
                "Properties": {"PolicyDocument": {"Statement": [stmt]}}
            })
        };
        let findings = |r: &Value| -> Vec<Option<Value>> {
            design_exceptions(r)
                .into_iter()
                .map(|s| s.applies_to)
                .collect()
        };
        let star = json!(["Resource::*"]);
        assert_eq!(
            findings(&policy("*", &["ecr:GetAuthorizationToken"], true)),
            vec![Some(star)]
        );
        assert!(findings(&policy("*", &["ecr:GetAuthorizationToken"], false)).is_empty());
        assert!(findings(&policy("*", &["s3:GetObject"], true)).is_empty());
        assert_eq!(
            findings(&policy("${Bucket}/runs/*", &["s3:GetObject"], false)),
            vec![Some(json!(["Resource::<Bucket>/runs/*"]))]
        );
        assert!(
            findings(&policy(
                "arn:aws:logs:r:1:log-group:*",
                &["logs:PutLogEvents"],
                false
            ))
            .is_empty()
        );
    }

    #[test]
    fn resources_flatten_as_cdk_nag_names_them() {
        let sub = json!({"Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:/aws/sagemaker/*"});
        assert_eq!(
            flatten(&sub),
            "arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:/aws/sagemaker/*"
        );
        let vars = json!({"Fn::Sub": ["${Bucket}/capture/*", {"Bucket": {"Fn::ImportValue": "x-ArtifactsBucketArn"}}]});
        assert_eq!(
            flatten(&vars),
            r#"["${Bucket}/capture/*",{"Bucket":{"Fn::ImportValue":"x-ArtifactsBucketArn"}}]"#
        );
        assert_eq!(
            flatten(&json!({"Fn::GetAtt": ["Group", "Arn"]})),
            "<Group.Arn>"
        );
        assert_eq!(
            flatten(&json!({"Fn::Join": ["", [{"Ref": "B"}, "/*"]]})),
            "<B>/*"
        );
    }

    #[test]
    fn waivers_reach_both_scanners_once_with_their_reason() {
        let w = Waiver {
            rule: "s3-access-logging".into(),
            resource: "dx-data/Sink".into(),
            reason: "the sink".into(),
            owner: "team".into(),
            expires: "2030-01-01".into(),
        };
        let mut t = json!({"Resources": {
            "Sink": {"Type": "AWS::S3::Bucket", "Properties": {}},
            "Other": {"Type": "AWS::S3::Bucket", "Properties": {}}
        }});
        annotate(&mut t, "dx-data", std::slice::from_ref(&w));
        annotate(&mut t, "dx-data", std::slice::from_ref(&w));
        let meta = &t["Resources"]["Sink"]["Metadata"];
        let reason = waiver_reason(&w);
        assert_eq!(
            meta["cdk_nag"]["rules_to_suppress"],
            json!([
                {"id": "HIPAA.Security-S3BucketLoggingEnabled", "reason": reason},
                {"id": "AwsSolutions-S1", "reason": reason}
            ])
        );
        assert_eq!(
            meta["checkov"]["skip"],
            json!([{"id": "CKV_AWS_18", "comment": reason}])
        );
        let keys: Vec<&String> = t["Resources"]["Sink"].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["Type", "Metadata", "Properties"]);
        assert!(t["Resources"]["Other"].get("Metadata").is_none());
    }
}
