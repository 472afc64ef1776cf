//! CloudWatch Logs log groups: encryption and retention.

use crate::audit::catalogue::{AT_REST, Control, ControlId, control_entry};
use crate::audit::template::Template;

use super::{Observation, Out};

/// Catalogue entries of the controls checked here.
pub(in crate::audit) const CONTROLS: &[Control] = &[
    control_entry!(
        LogsKmsEncryption,
        "encryption-at-rest",
        High,
        false,
        AT_REST,
        "Logs can capture PHI (payloads, errors) and must be encrypted with a customer-managed key.",
        "AWS::Logs::LogGroup: KmsKeyId references a customer-managed key."
    ),
    control_entry!(
        LogRetention,
        "audit-controls",
        Medium,
        true,
        &["164.312(b)", "164.316(b)(2)(i)"],
        "Audit records must be kept as long as the organisation's retention policy requires.",
        "AWS::Logs::LogGroup: RetentionInDays set and at least the spec's log_retention_days."
    ),
];

/// Log groups are encrypted with a customer-managed key.
pub(super) fn encryption(out: &mut Out) {
    for g in out.tpl.of_type("AWS::Logs::LogGroup") {
        out.key(ControlId::LogsKmsEncryption, &g, &["KmsKeyId"]);
    }
}

/// `log-retention` needs the spec's minimum, so it is run separately.
pub(crate) fn retention(tpl: &Template, min_days: u32) -> Vec<Observation> {
    let mut out = Out {
        obs: Vec::new(),
        tpl,
    };
    for g in tpl.of_type("AWS::Logs::LogGroup") {
        let v = g.prop(&["RetentionInDays"]);
        let days = v.and_then(|v| {
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        });
        let ptr = g.ptr(&["RetentionInDays"]);
        match days {
            Some(d) if d >= u64::from(min_days) => out.pass(
                ControlId::LogRetention,
                &g,
                ptr,
                format!("kept {d} days (at least {min_days})"),
            ),
            Some(d) => out.fail(
                ControlId::LogRetention,
                &g,
                ptr,
                format!("kept {d} days, fewer than the required {min_days}"),
            ),
            None => out.fail(
                ControlId::LogRetention,
                &g,
                ptr,
                "RetentionInDays is not set to a number of days",
            ),
        }
    }
    out.obs
}
