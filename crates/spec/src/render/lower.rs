//! Rewrites applied to every rendered CloudFormation template.
//!
//! Templates keep each IAM role's permissions inline (`Policies`), so a
//! reviewer of `templates/` reads a role and what it may do in one place.
//! The HIPAA rule packs ask for managed policies instead, so each inline
//! policy is lowered into an `AWS::IAM::ManagedPolicy` attached to its role,
//! and every resource that uses the role waits for those policies
//! (`DependsOn`): permissions exist before first use, which a role with
//! inline policies guaranteed implicitly.

use serde_json::{Map, Value, json};

/// Lower inline role policies into managed policies. Idempotent.
pub fn inline_policies_to_managed(template: &mut Value) {
    let Some(resources) = template.get_mut("Resources").and_then(Value::as_object_mut) else {
        return;
    };
    let mut lowered = Map::new();
    // role logical id → its managed policies' logical ids
    let mut policies_of: Vec<(String, Vec<String>)> = Vec::new();
    for (id, mut resource) in std::mem::take(resources) {
        let is_role = resource["Type"] == "AWS::IAM::Role";
        let inline = if is_role {
            resource
                .get_mut("Properties")
                .and_then(Value::as_object_mut)
                .and_then(|p| p.remove("Policies"))
        } else {
            None
        };
        lowered.insert(id.clone(), resource);
        let Some(Value::Array(inline)) = inline else {
            continue;
        };
        let mut ids = Vec::new();
        for policy in inline {
            let name = policy["PolicyName"].as_str().unwrap_or("policy");
            let policy_id = format!("{id}{}Policy", pascal(name));
            lowered.insert(
                policy_id.clone(),
                json!({
                    "Type": "AWS::IAM::ManagedPolicy",
                    "Properties": {
                        "Description": format!("{name}: permissions of {id}"),
                        "Roles": [{"Ref": id}],
                        "PolicyDocument": policy["PolicyDocument"].clone(),
                    }
                }),
            );
            ids.push(policy_id);
        }
        policies_of.push((id, ids));
    }
    for (role, policies) in &policies_of {
        for (id, resource) in lowered.iter_mut() {
            if id == role || resource["Type"] == "AWS::IAM::ManagedPolicy" {
                continue;
            }
            if references(&resource["Properties"], role) {
                add_depends_on(resource, policies);
            }
        }
    }
    *resources = lowered;
}

fn pascal(name: &str) -> String {
    name.split(['-', '_', ' '])
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// Whether `value` refers to resource `id` through `Ref`, `Fn::GetAtt` or `${id...}` in `Fn::Sub`.
fn references(value: &Value, id: &str) -> bool {
    let attribute = format!("${{{id}.");
    let whole = format!("${{{id}}}");
    refers(value, id, &attribute, &whole)
}

fn refers(value: &Value, id: &str, attribute: &str, whole: &str) -> bool {
    match value {
        Value::Object(m) => {
            if m.get("Ref").and_then(Value::as_str) == Some(id) {
                return true;
            }
            if let Some(Value::Array(a)) = m.get("Fn::GetAtt")
                && a.first().and_then(Value::as_str) == Some(id)
            {
                return true;
            }
            m.values().any(|v| refers(v, id, attribute, whole))
        }
        Value::Array(a) => a.iter().any(|v| refers(v, id, attribute, whole)),
        Value::String(s) => s.contains(attribute) || s.contains(whole),
        _ => false,
    }
}

fn add_depends_on(resource: &mut Value, ids: &[String]) {
    let mut current: Vec<Value> = match resource.get("DependsOn") {
        Some(Value::String(s)) => vec![Value::String(s.clone())],
        Some(Value::Array(a)) => a.clone(),
        _ => Vec::new(),
    };
    for id in ids {
        let v = Value::String(id.clone());
        if !current.contains(&v) {
            current.push(v);
        }
    }
    if let Some(obj) = resource.as_object_mut() {
        // Keep DependsOn right after Type for readability.
        let mut reordered = Map::new();
        for (k, v) in std::mem::take(obj) {
            if k == "DependsOn" {
                continue;
            }
            let after_type = k == "Type";
            reordered.insert(k, v);
            if after_type {
                reordered.insert("DependsOn".into(), Value::Array(current.clone()));
            }
        }
        *obj = reordered;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_policies_become_managed_and_users_wait_for_them() {
        let mut t = json!({"Resources": {
            "JobRole": {"Type": "AWS::IAM::Role", "Properties": {
                "AssumeRolePolicyDocument": {},
                "Policies": [{"PolicyName": "read-data", "PolicyDocument": {"Statement": []}}]}},
            "Fn": {"Type": "AWS::Lambda::Function", "DependsOn": "Other", "Properties": {"Role": {"Fn::GetAtt": ["JobRole", "Arn"]}}},
            "Unrelated": {"Type": "AWS::SNS::Topic", "Properties": {}},
        }});
        inline_policies_to_managed(&mut t);
        let r = &t["Resources"];
        assert!(r["JobRole"]["Properties"].get("Policies").is_none());
        assert_eq!(
            r["JobRoleReadDataPolicy"]["Type"],
            "AWS::IAM::ManagedPolicy"
        );
        assert_eq!(
            r["JobRoleReadDataPolicy"]["Properties"]["Roles"],
            json!([{"Ref": "JobRole"}])
        );
        assert_eq!(
            r["Fn"]["DependsOn"],
            json!(["Other", "JobRoleReadDataPolicy"])
        );
        assert!(r["Unrelated"].get("DependsOn").is_none());
        let keys: Vec<&String> = r.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            ["JobRole", "JobRoleReadDataPolicy", "Fn", "Unrelated"]
        );
        let again = t.clone();
        inline_policies_to_managed(&mut t);
        assert_eq!(t, again);
    }
}
