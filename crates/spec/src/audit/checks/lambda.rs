//! Lambda: invoke permissions, environment encryption, VPC placement,
//! resilience, and the guarded rollout of a serving alias.

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
