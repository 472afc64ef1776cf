//! The rules of the other scanners the tests run (cdk-nag's HIPAA Security
//! and AwsSolutions packs, checkov) that judge the same thing as a control.
//!
//! A waiver of a control excuses the same resource in those scanners too:
//! the renderer writes it into the resource's `Metadata` as a cdk-nag
//! suppression and a checkov skip of each rule listed here, with the text of
//! [`suppression_reason`], so the reason, owner and expiry read the same in
//! the audit's report, cdk-nag's and checkov's.

use super::catalogue::ControlId;
use super::waiver::Waiver;

/// The rules of other scanners that judge what `control` judges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScannerRules {
    /// cdk-nag rule ids (`Pack-Rule`).
    pub cdk_nag: &'static [&'static str],
    /// checkov check ids.
    pub checkov: &'static [&'static str],
}

const NONE: ScannerRules = ScannerRules {
    cdk_nag: &[],
    checkov: &[],
};

/// What cdk-nag and checkov call `control`; empty where neither judges it.
pub fn scanner_rules(control: ControlId) -> ScannerRules {
    use ControlId::*;
    let rules = |cdk_nag, checkov| ScannerRules { cdk_nag, checkov };
    match control {
        S3AccessLogging => rules(
            &["HIPAA.Security-S3BucketLoggingEnabled", "AwsSolutions-S1"],
            &["CKV_AWS_18"],
        ),
        S3Replication => rules(&["HIPAA.Security-S3BucketReplicationEnabled"], &[]),
        S3Versioning => rules(
            &["HIPAA.Security-S3BucketVersioningEnabled"],
            &["CKV_AWS_21"],
        ),
        LogRetention => rules(
            &["HIPAA.Security-CloudWatchLogGroupRetentionPeriod"],
            &["CKV_AWS_66"],
        ),
        ApiGatewayAccessLogging => rules(&["AwsSolutions-APIG1"], &["CKV_AWS_76"]),
        ApiGatewayRequestValidation => rules(&["AwsSolutions-APIG2"], &[]),
        ApiGatewayWaf => rules(&["AwsSolutions-APIG3"], &[]),
        ApiGatewayMethodAuthorization => rules(&["AwsSolutions-APIG4", "AwsSolutions-COG4"], &[]),
        ApiGatewayClientCertificate => rules(&["HIPAA.Security-APIGWSSLEnabled"], &[]),
        StepFunctionsLogging => rules(&["AwsSolutions-SF1"], &[]),
        LambdaInVpc => rules(&["HIPAA.Security-LambdaInsideVPC"], &["CKV_AWS_117"]),
        LambdaResilience => rules(
            &[
                "HIPAA.Security-LambdaConcurrency",
                "HIPAA.Security-LambdaDLQ",
            ],
            &["CKV_AWS_115", "CKV_AWS_116"],
        ),
        IamNoInlinePolicy => rules(&["HIPAA.Security-IAMNoInlinePolicy"], &[]),
        IamNoWildcardAction | IamNoWildcardResource => rules(&["AwsSolutions-IAM5"], &[]),
        IamNoAdminAccess => rules(
            &["HIPAA.Security-IAMPolicyNoStatementsWithAdminAccess"],
            &[],
        ),
        AlarmActions => rules(&["HIPAA.Security-CloudWatchAlarmAction"], &[]),
        SageMakerNotebookHardening => rules(
            &[
                "HIPAA.Security-SageMakerNotebookNoDirectInternetAccess",
                "AwsSolutions-SM1",
                "AwsSolutions-SM3",
            ],
            &[],
        ),
        _ => NONE,
    }
}

/// The text a scanner shows for a suppression that a waiver of `rule`
/// (a control id, or a scanner's own rule for a design exception) caused.
pub fn suppression_reason(reason: &str, rule: &str, owner: &str, expires: &str) -> String {
    format!("{reason} (waiver of {rule}; owner {owner}; expires {expires})")
}

/// [`suppression_reason`] of a waiver.
pub fn waiver_reason(w: &Waiver) -> String {
    suppression_reason(&w.reason, &w.rule, &w.owner, &w.expires)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_waivable_controls_reach_other_scanners() {
        for id in ControlId::ALL {
            let rules = scanner_rules(*id);
            if !id.entry().waivable {
                assert_eq!(rules, NONE, "{id} cannot be waived, so never suppressed");
            }
            for r in rules.cdk_nag {
                assert!(
                    r.starts_with("HIPAA.Security-") || r.starts_with("AwsSolutions-"),
                    "{r}"
                );
            }
            for r in rules.checkov {
                assert!(r.starts_with("CKV_AWS_"), "{r}");
            }
        }
    }
}
