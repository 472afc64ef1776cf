//! Lambda: invoke permissions, environment encryption, VPC placement,
//! resilience, the guarded rollout of a serving alias, and current runtimes.

use crate::audit::catalogue::{AT_REST, Control, ControlId, control_entry};
use crate::audit::template::{arn_text, get, is_true, items, ref_target, str_of};

use super::Out;

/// Catalogue entries of the controls checked here.
pub(in crate::audit) const CONTROLS: &[Control] = &[
    control_entry!(
        LambdaEnvKmsEncryption,
        "encryption-at-rest",
        Medium,
        true,
        AT_REST,
        "Function environment variables can hold configuration secrets and must be encrypted with a customer-managed key.",
        "AWS::Lambda::Function with Environment variables: KmsKeyArn references a customer-managed key."
    ),
    control_entry!(
        LambdaPermissionScoped,
        "access-control",
        High,
        true,
        &["164.312(a)(1)"],
        "A function must only be invocable by the caller it was built for.",
        "AWS::Lambda::Permission: Principal is not \"*\", and a service principal is limited by SourceArn or SourceAccount."
    ),
    control_entry!(
        LambdaInVpc,
        "isolation",
        Medium,
        true,
        &["164.312(a)(1)", "164.312(e)(1)"],
        "Functions touching PHI must run inside the VPC so their traffic stays private.",
        "AWS::Lambda::Function: VpcConfig with SubnetIds and SecurityGroupIds."
    ),
    control_entry!(
        LambdaResilience,
        "availability",
        Low,
        true,
        &["164.308(a)(7)"],
        "A function must not drop failed events nor starve others of concurrency.",
        "AWS::Lambda::Function: DeadLetterConfig TargetArn and ReservedConcurrentExecutions set."
    ),
    control_entry!(
        LambdaAliasRollback,
        "availability",
        Medium,
        true,
        &["164.308(a)(1)(ii)(D)", "164.308(a)(7)"],
        "A new model version must reach patients gradually and be withdrawn by itself when its alarms fire.",
        "AWS::Lambda::Alias: UpdatePolicy CodeDeployLambdaAliasUpdate names an AWS::CodeDeploy::DeploymentGroup of the template whose AlarmConfiguration is enabled with at least one alarm and whose AutoRollbackConfiguration is enabled for DEPLOYMENT_STOP_ON_ALARM."
    ),
    control_entry!(
        LambdaRuntimeCurrent,
        "integrity",
        Medium,
        true,
        &["164.308(a)(1)(ii)(B)", "164.308(a)(5)(ii)(B)"],
        "A function on an older runtime gets security fixes for less long, and none once it is deprecated.",
        "AWS::Lambda::Function with a Runtime: it is the newest of its family (python3.14, nodejs22.x, java21, dotnet8, ruby3.4, provided.al2023, as of 2026-12)."
    ),
];

/// The newest runtime of each family Lambda offers (CloudFormation's
/// resource schema for AWS::Lambda::Function, December 2026). A runtime of
/// a family not listed is judged as not current.
const CURRENT_RUNTIMES: [(&str, &str); 6] = [
    ("python", "python3.14"),
    ("nodejs", "nodejs22.x"),
    ("java", "java21"),
    ("dotnet", "dotnet8"),
    ("ruby", "ruby3.4"),
    ("provided", "provided.al2023"),
];

/// Permissions, functions and aliases.
pub(super) fn check(out: &mut Out) {
    alias_rollback(out);
    for p in out.tpl.of_type("AWS::Lambda::Permission") {
        let principal = p
            .prop(&["Principal"])
            .and_then(arn_text)
            .unwrap_or_default();
        let ptr = p.ptr(&["Principal"]);
        let scoped = p.prop(&["SourceArn"]).is_some() || p.prop(&["SourceAccount"]).is_some();
        if principal == "*" {
            out.fail(
                ControlId::LambdaPermissionScoped,
                &p,
                ptr,
                "Principal \"*\" lets anyone invoke the function",
            );
        } else if principal.ends_with(".amazonaws.com") && !scoped {
            out.fail(
                ControlId::LambdaPermissionScoped,
                &p,
                ptr,
                format!(
                    "service principal {principal} is not limited by SourceArn or SourceAccount"
                ),
            );
        } else {
            out.pass(
                ControlId::LambdaPermissionScoped,
                &p,
                ptr,
                format!("only {principal} may invoke"),
            );
        }
    }
    for f in out.tpl.of_type("AWS::Lambda::Function") {
        // A function from an image has no Runtime: its base is the image's.
        if let Some(runtime) = str_of(f.prop(&["Runtime"])) {
            let family: String = runtime
                .chars()
                .take_while(|c| c.is_ascii_alphabetic())
                .collect();
            let newest = CURRENT_RUNTIMES
                .iter()
                .find(|(f, _)| *f == family)
                .map(|(_, n)| *n);
            let ptr = f.ptr(&["Runtime"]);
            match newest {
                Some(n) if n == runtime => out.pass(
                    ControlId::LambdaRuntimeCurrent,
                    &f,
                    ptr,
                    "the newest runtime of its family",
                ),
                Some(n) => out.fail(
                    ControlId::LambdaRuntimeCurrent,
                    &f,
                    ptr,
                    format!("runtime `{runtime}` is not the newest of its family (`{n}`)"),
                ),
                None => out.fail(
                    ControlId::LambdaRuntimeCurrent,
                    &f,
                    ptr,
                    format!("runtime `{runtime}` is of no family dxops knows to be current"),
                ),
            }
        }
        let vars = f.prop(&["Environment", "Variables"]);
        let has_vars = vars.is_some_and(|v| v.as_object().is_none_or(|m| !m.is_empty()));
        if has_vars {
            out.key(ControlId::LambdaEnvKmsEncryption, &f, &["KmsKeyArn"]);
        }
        let subnets = f
            .prop(&["VpcConfig", "SubnetIds"])
            .is_some_and(|v| v.as_array().is_none_or(|a| !a.is_empty()));
        let sgs = f
            .prop(&["VpcConfig", "SecurityGroupIds"])
            .is_some_and(|v| v.as_array().is_none_or(|a| !a.is_empty()));
        let ptr = f.ptr(&["VpcConfig"]);
        if subnets && sgs {
            out.pass(ControlId::LambdaInVpc, &f, ptr, "runs in a VPC");
        } else {
            out.fail(
                ControlId::LambdaInVpc,
                &f,
                ptr,
                "VpcConfig with SubnetIds and SecurityGroupIds is missing",
            );
        }
        let mut problems = Vec::new();
        if f.prop(&["DeadLetterConfig", "TargetArn"]).is_none() {
            problems.push((
                f.ptr(&["DeadLetterConfig"]),
                "DeadLetterConfig TargetArn is not set".to_string(),
            ));
        }
        if f.prop(&["ReservedConcurrentExecutions"]).is_none() {
            problems.push((
                f.ptr(&["ReservedConcurrentExecutions"]),
                "ReservedConcurrentExecutions is not set".to_string(),
            ));
        }
        out.judge(
            ControlId::LambdaResilience,
            &f,
            f.ptr(&[]),
            "has a dead-letter queue and reserved concurrency",
            problems,
        );
    }
}

/// Each alias shifts through a deployment group that watches alarms and
/// rolls back on them.
fn alias_rollback(out: &mut Out) {
    for a in out.tpl.of_type("AWS::Lambda::Alias") {
        let policy = get(a.body, &["UpdatePolicy", "CodeDeployLambdaAliasUpdate"]);
        let group = policy
            .and_then(|p| p.get("DeploymentGroupName"))
            .and_then(ref_target)
            .and_then(|id| out.tpl.resource(id))
            .filter(|g| g.ty == "AWS::CodeDeploy::DeploymentGroup");
        let ptr = a.attr_ptr("UpdatePolicy");
        let Some(g) = group else {
            out.fail(
                ControlId::LambdaAliasRollback,
                &a,
                ptr,
                "no UpdatePolicy CodeDeployLambdaAliasUpdate naming a deployment group of this template: a new version would take all traffic at once, unwatched",
            );
            continue;
        };
        let mut problems = Vec::new();
        let alarms = items(g.prop(&["AlarmConfiguration", "Alarms"]));
        if !is_true(g.prop(&["AlarmConfiguration", "Enabled"])) || alarms.is_empty() {
            problems.push((
                g.ptr(&["AlarmConfiguration"]),
                format!("deployment group `{}` watches no alarm", g.id),
            ));
        }
        let stops_on_alarm = items(g.prop(&["AutoRollbackConfiguration", "Events"]))
            .iter()
            .any(|e| str_of(Some(e)) == Some("DEPLOYMENT_STOP_ON_ALARM"));
        if !is_true(g.prop(&["AutoRollbackConfiguration", "Enabled"])) || !stops_on_alarm {
            problems.push((
                g.ptr(&["AutoRollbackConfiguration"]),
                format!(
                    "deployment group `{}` does not roll back when an alarm stops the deployment",
                    g.id
                ),
            ));
        }
        out.judge(
            ControlId::LambdaAliasRollback,
            &a,
            ptr,
            &format!(
                "shifted by deployment group `{}`, rolled back on {} alarm(s)",
                g.id,
                alarms.len()
            ),
            problems,
        );
    }
}
