//! IAM: wildcard actions and resources, administrator access, inline
//! policies, role trust and one role per job.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::audit::catalogue::{ACCESS, Control, ControlId, control_entry};
use crate::audit::template::{
    Resource, Template, actions, arn_text, get, items, principal_is_star, ref_target, statements,
    str_of,
};

use super::{Out, sagemaker};

/// Catalogue entries of the controls checked here.
pub(in crate::audit) const CONTROLS: &[Control] = &[
    control_entry!(
        IamNoWildcardAction,
        "access-control",
        High,
        true,
        ACCESS,
        "Least privilege: a role may only do what its job needs.",
        "IAM policies (AWS::IAM::Role Policies, AWS::IAM::Policy, AWS::IAM::ManagedPolicy): no Allow with Action \"*\", \"service:*\" or NotAction."
    ),
    control_entry!(
        IamNoWildcardResource,
        "access-control",
        Medium,
        true,
        ACCESS,
        "Least privilege: a permission must name the resources it applies to.",
        "IAM policies: no Allow with Resource \"*\" or NotResource, except for actions that only support \"*\" (see the list in the docs), and those need a Condition."
    ),
    control_entry!(
        IamNoAdminAccess,
        "access-control",
        High,
        true,
        ACCESS,
        "No workload role may hold administrator rights.",
        "AWS::IAM::Role/Group/User ManagedPolicyArns: no AdministratorAccess; no Allow of \"*\" / \"*:*\" on Resource \"*\"."
    ),
    control_entry!(
        IamNoInlinePolicy,
        "access-control",
        Low,
        true,
        &["164.312(a)(1)", "164.308(a)(4)(ii)(B)"],
        "Managed policies are versioned and reviewable on their own; inline policies hide in roles.",
        "AWS::IAM::Role/User/Group: no Policies property (attach AWS::IAM::ManagedPolicy instead); no AWS::IAM::Policy resources."
    ),
    control_entry!(
        IamRoleSingleService,
        "access-control",
        Medium,
        true,
        ACCESS,
        "One role per job keeps each job's permissions separate and its activity attributable.",
        "AWS::IAM::Role AssumeRolePolicyDocument: the Allow statements trust exactly one Service principal."
    ),
    control_entry!(
        IamRolePerJob,
        "access-control",
        Medium,
        true,
        &["164.312(a)(1)", "164.308(a)(4)(ii)(B)", "164.312(b)"],
        "A role shared by two jobs gives each the other's permissions and blurs the audit trail.",
        "AWS::IAM::Role: referenced as the execution role of at most one job: Lambda Role, state machine, SageMaker model, pipeline and each pipeline step, notebook, monitoring schedule and job definitions, Glue job and crawler, S3 replication."
    ),
    control_entry!(
        IamTrustScoped,
        "access-control",
        High,
        true,
        &["164.312(a)(1)", "164.312(d)"],
        "A role must only be assumable by the service that runs the job.",
        "AWS::IAM::Role AssumeRolePolicyDocument: only Service principals; no Principal \"*\", no account root, no other AWS or federated principal, no NotPrincipal."
    ),
];

/// Policies and trust of every role, user, group and policy, then role
/// sharing across jobs.
pub(super) fn check(out: &mut Out) {
    policies(out);
    role_per_job(out);
}

fn policies(out: &mut Out) {
    let tpl = out.tpl;
    for r in tpl.resources() {
        let mut docs: Vec<(String, &Value)> = Vec::new();
        match r.ty {
            "AWS::IAM::Role" | "AWS::IAM::User" | "AWS::IAM::Group" => {
                let policies = items(r.prop(&["Policies"]));
                for (i, p) in policies.iter().enumerate() {
                    if let Some(d) = p.get("PolicyDocument") {
                        docs.push((format!("{}/{i}/PolicyDocument", r.ptr(&["Policies"])), d));
                    }
                }
                let ptr = r.ptr(&["Policies"]);
                if policies.is_empty() {
                    out.pass(
                        ControlId::IamNoInlinePolicy,
                        &r,
                        r.ptr(&[]),
                        "no inline policies",
                    );
                } else {
                    out.fail(
                        ControlId::IamNoInlinePolicy,
                        &r,
                        ptr,
                        "has inline Policies; use AWS::IAM::ManagedPolicy",
                    );
                }
            }
            "AWS::IAM::Policy" => {
                out.fail(
                    ControlId::IamNoInlinePolicy,
                    &r,
                    r.ptr(&[]),
                    "AWS::IAM::Policy is an inline policy; use AWS::IAM::ManagedPolicy",
                );
                if let Some(d) = r.prop(&["PolicyDocument"]) {
                    docs.push((r.ptr(&["PolicyDocument"]), d));
                }
            }
            "AWS::IAM::ManagedPolicy" => {
                if let Some(d) = r.prop(&["PolicyDocument"]) {
                    docs.push((r.ptr(&["PolicyDocument"]), d));
                }
            }
            _ => continue,
        }
        let (mut act, mut res, mut admin) = (Vec::new(), Vec::new(), Vec::new());
        for (dp, doc) in &docs {
            for (sp, stmt) in statements(doc, dp) {
                if str_of(stmt.get("Effect")) != Some("Allow") {
                    continue;
                }
                let acts = actions(stmt);
                let wild: Vec<&&str> = acts
                    .iter()
                    .filter(|a| **a == "*" || a.ends_with(":*"))
                    .collect();
                if stmt.get("NotAction").is_some() {
                    act.push((
                        format!("{sp}/NotAction"),
                        "Allow with NotAction grants everything else".to_string(),
                    ));
                }
                if !wild.is_empty() {
                    let names: Vec<&str> = wild.iter().map(|a| **a).collect();
                    act.push((
                        format!("{sp}/Action"),
                        format!("wildcard action {}", names.join(", ")),
                    ));
                }
                let star_res = items(stmt.get("Resource"))
                    .iter()
                    .any(|v| v.as_str() == Some("*"));
                if stmt.get("NotResource").is_some() {
                    res.push((
                        format!("{sp}/NotResource"),
                        "Allow with NotResource applies to everything else".to_string(),
                    ));
                }
                if star_res {
                    let star_only =
                        !acts.is_empty() && acts.iter().all(|a| STAR_ONLY_ACTIONS.contains(a));
                    if !star_only {
                        res.push((
                            format!("{sp}/Resource"),
                            "Resource \"*\" for actions that support resource-level permissions"
                                .to_string(),
                        ));
                    } else if stmt.get("Condition").is_none() {
                        res.push((
                            format!("{sp}/Condition"),
                            "Resource \"*\" (allowed for these actions) needs a Condition"
                                .to_string(),
                        ));
                    }
                    if acts.iter().any(|a| *a == "*" || *a == "*:*") {
                        admin.push((
                            format!("{sp}/Action"),
                            "grants every action on every resource".to_string(),
                        ));
                    }
                }
            }
        }
        for (i, arn) in items(r.prop(&["ManagedPolicyArns"])).iter().enumerate() {
            if arn_text(arn).is_some_and(|t| t.ends_with("policy/AdministratorAccess")) {
                admin.push((
                    format!("{}/{i}", r.ptr(&["ManagedPolicyArns"])),
                    "AdministratorAccess is attached".to_string(),
                ));
            }
        }
        let whole = r.ptr(&[]);
        if !docs.is_empty() {
            out.judge(
                ControlId::IamNoWildcardAction,
                &r,
                whole.clone(),
                "actions are named",
                act,
            );
            out.judge(
                ControlId::IamNoWildcardResource,
                &r,
                whole.clone(),
                "resources are named",
                res,
            );
        }
        if r.ty != "AWS::IAM::ManagedPolicy" && r.ty != "AWS::IAM::Policy" || !admin.is_empty() {
            out.judge(
                ControlId::IamNoAdminAccess,
                &r,
                whole.clone(),
                "no administrator access",
                admin,
            );
        }
        if r.ty == "AWS::IAM::Role" {
            trust(out, &r);
        }
    }
}

fn is_root_principal(v: &Value) -> bool {
    let Some(t) = arn_text(v) else { return false };
    t.ends_with(":root")
        || (t.len() == 12 && t.bytes().all(|c| c.is_ascii_digit()))
        || t == "${AWS::AccountId}"
}

fn trust(out: &mut Out, r: &Resource) {
    let doc_ptr = r.ptr(&["AssumeRolePolicyDocument"]);
    let Some(doc) = r.prop(&["AssumeRolePolicyDocument"]) else {
        out.fail(
            ControlId::IamRoleSingleService,
            r,
            doc_ptr,
            "AssumeRolePolicyDocument is missing",
        );
        return;
    };
    let mut services = BTreeSet::new();
    let mut problems = Vec::new();
    for (sp, stmt) in statements(doc, &doc_ptr) {
        if str_of(stmt.get("Effect")) != Some("Allow") {
            continue;
        }
        let principal = stmt.get("Principal");
        if principal_is_star(principal) {
            problems.push((
                format!("{sp}/Principal"),
                "trusts any principal".to_string(),
            ));
        }
        if let Some(Value::Object(m)) = principal {
            for (kind, vals) in m {
                for v in items(Some(vals)) {
                    let text = arn_text(v).unwrap_or_default();
                    if kind == "Service" {
                        services.insert(text);
                    } else if kind == "AWS" && text == "*" {
                        // reported above as "any principal"
                    } else if kind == "AWS" && is_root_principal(v) {
                        problems.push((
                            format!("{sp}/Principal/AWS"),
                            "trusts a whole account (root)".to_string(),
                        ));
                    } else {
                        problems.push((
                            format!("{sp}/Principal/{kind}"),
                            format!("trusts {kind} principal `{text}`, not only a service"),
                        ));
                    }
                }
            }
        }
        if stmt.get("NotPrincipal").is_some() {
            problems.push((
                format!("{sp}/NotPrincipal"),
                "Allow with NotPrincipal trusts everyone else".to_string(),
            ));
        }
    }
    out.judge(
        ControlId::IamTrustScoped,
        r,
        doc_ptr.clone(),
        "trust is scoped to a service",
        problems,
    );
    if services.len() == 1 {
        let s = services.iter().next().cloned().unwrap_or_default();
        out.pass(
            ControlId::IamRoleSingleService,
            r,
            doc_ptr,
            format!("trusted by {s} only"),
        );
    } else {
        let list: Vec<String> = services.into_iter().collect();
        out.fail(
            ControlId::IamRoleSingleService,
            r,
            doc_ptr,
            format!(
                "trusted by {} service principals ({}); one role per job, one service per role",
                list.len(),
                list.join(", ")
            ),
        );
    }
}

/// Where each role is used as an execution role: role logical id → users.
fn role_users(tpl: &Template) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut users: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    let mut add = |v: Option<&Value>, user: String| {
        let id = v.and_then(|v| {
            ref_target(v).map(String::from).or_else(|| {
                let t = v.as_str()?;
                let inner = t.strip_prefix("${")?.strip_suffix('}')?;
                Some(inner.split('.').next().unwrap_or(inner).to_string())
            })
        });
        if let Some(id) = id {
            users.entry(id).or_default().push(user);
        }
    };
    const ROLE_PROPERTIES: &[(&str, &[&str])] = &[
        ("AWS::Lambda::Function", &["Role"]),
        ("AWS::StepFunctions::StateMachine", &["RoleArn"]),
        ("AWS::SageMaker::Model", &["ExecutionRoleArn"]),
        ("AWS::SageMaker::Pipeline", &["RoleArn"]),
        ("AWS::SageMaker::NotebookInstance", &["RoleArn"]),
        (
            "AWS::SageMaker::MonitoringSchedule",
            &[
                "MonitoringScheduleConfig",
                "MonitoringJobDefinition",
                "RoleArn",
            ],
        ),
        ("AWS::SageMaker::DataQualityJobDefinition", &["RoleArn"]),
        ("AWS::SageMaker::ModelQualityJobDefinition", &["RoleArn"]),
        ("AWS::SageMaker::ModelBiasJobDefinition", &["RoleArn"]),
        (
            "AWS::SageMaker::ModelExplainabilityJobDefinition",
            &["RoleArn"],
        ),
        ("AWS::Glue::Job", &["Role"]),
        ("AWS::Glue::Crawler", &["Role"]),
        ("AWS::S3::Bucket", &["ReplicationConfiguration", "Role"]),
    ];
    for r in tpl.resources() {
        for (ty, path) in ROLE_PROPERTIES {
            if r.ty == *ty {
                add(r.prop(path), format!("{} ({})", r.id, path.join(".")));
            }
        }
        if r.ty == "AWS::SageMaker::Pipeline" {
            if let Ok(def) = sagemaker::pipeline_body(&r) {
                let mut steps = Vec::new();
                if let Some(s) = def.get("Steps") {
                    sagemaker::collect_steps(s, "/Steps", &mut steps);
                }
                steps.sort_by(|a, b| a.0.cmp(&b.0));
                for (_, step) in steps {
                    let name = str_of(step.get("Name")).unwrap_or("?");
                    let role = get(step, &["Arguments", "RoleArn"])
                        .or_else(|| get(step, &["Arguments", "TrainingJobDefinition", "RoleArn"]));
                    add(role, format!("{} step `{name}`", r.id));
                }
            }
        }
    }
    users
}

fn role_per_job(out: &mut Out) {
    let users = role_users(out.tpl);
    for r in out.tpl.of_type("AWS::IAM::Role") {
        let used = users.get(r.id).map(Vec::as_slice).unwrap_or(&[]);
        let ptr = r.ptr(&[]);
        if used.len() <= 1 {
            let by = used
                .first()
                .map(String::as_str)
                .unwrap_or("no job in this template");
            out.pass(ControlId::IamRolePerJob, &r, ptr, format!("used by {by}"));
        } else {
            out.fail(
                ControlId::IamRolePerJob,
                &r,
                ptr,
                format!("shared by {} jobs: {}", used.len(), used.join(", ")),
            );
        }
    }
}

/// IAM actions that do not support resource-level permissions, so their
/// statements must use `Resource: "*"`; such statements need a `Condition`.
pub const STAR_ONLY_ACTIONS: &[&str] = &[
    "cloudwatch:PutMetricData",
    "ec2:DescribeDhcpOptions",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSubnets",
    "ec2:DescribeVpcs",
    "ecr:GetAuthorizationToken",
    "logs:CreateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:DescribeLogGroups",
    "logs:DescribeResourcePolicies",
    "logs:GetLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:UpdateLogDelivery",
    "sagemaker:ListModelPackages",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "xray:PutTelemetryRecords",
    "xray:PutTraceSegments",
];
