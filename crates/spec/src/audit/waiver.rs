//! Waivers: accepted, owned, time-limited exceptions to a control.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::catalogue::{Control, ControlId, control_entry};

/// Catalogue entry of the control judged on the waivers themselves.
pub(in crate::audit) const CONTROLS: &[Control] = &[control_entry!(
    WaiverValid,
    "governance",
    High,
    false,
    &["164.308(a)(1)(ii)(B)", "164.308(a)(8)"],
    "Accepted risks must be reviewed; an expired waiver no longer excuses a failure.",
    "Each waiver in the spec is not expired on the audit date."
)];

/// An accepted exception to one control for one resource.
///
/// Embedded in the pipeline spec under `compliance.waivers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Waiver {
    /// The control id being waived, e.g. `s3-access-logging`.
    pub rule: String,
    /// The resource: a CloudFormation logical id, or `stack/LogicalId`.
    pub resource: String,
    /// Why the risk is accepted.
    pub reason: String,
    /// Who accepted it (person or team).
    pub owner: String,
    /// Last day the waiver applies, `YYYY-MM-DD`.
    #[schemars(regex(pattern = r"^\d{4}-\d{2}-\d{2}$"))]
    pub expires: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WaiverError {
    #[error("unknown control `{rule}`{}", suggestion.as_ref().map(|s| format!("; did you mean `{s}`?")).unwrap_or_default())]
    UnknownRule {
        rule: String,
        suggestion: Option<String>,
    },
    #[error("control `{rule}` cannot be waived")]
    NotWaivable { rule: String },
    #[error("`{value}` is not a date of the form YYYY-MM-DD")]
    BadDate { value: String },
    #[error("waiver field `{field}` is empty")]
    Empty { field: &'static str },
    #[error(
        "waiver field `{field}` holds `${{`, which CloudFormation tools read as a substitution in the template metadata the waiver is written to"
    )]
    Substitution { field: &'static str },
}

/// Check one waiver on its own: known and waivable control, valid expiry
/// date, no empty fields. Expiry against today's date is judged by the audit.
pub fn check_waiver(waiver: &Waiver) -> Result<(), WaiverError> {
    waived_control(waiver).map(|_| ())
}

/// [`check_waiver`], returning the control the waiver names, so its `rule`
/// is parsed once.
pub fn waived_control(waiver: &Waiver) -> Result<ControlId, WaiverError> {
    let Ok(id) = waiver.rule.parse::<ControlId>() else {
        let suggestion = ControlId::ALL
            .iter()
            .map(|c| (strsim::jaro_winkler(&waiver.rule, c.as_str()), c.as_str()))
            .filter(|(score, _)| *score >= 0.8)
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, id)| id.to_string());
        return Err(WaiverError::UnknownRule {
            rule: waiver.rule.clone(),
            suggestion,
        });
    };
    if !id.entry().waivable {
        return Err(WaiverError::NotWaivable {
            rule: waiver.rule.clone(),
        });
    }
    for (field, value) in [
        ("resource", &waiver.resource),
        ("reason", &waiver.reason),
        ("owner", &waiver.owner),
    ] {
        if value.trim().is_empty() {
            return Err(WaiverError::Empty { field });
        }
        if value.contains("${") {
            return Err(WaiverError::Substitution { field });
        }
    }
    validate_date(&waiver.expires)?;
    Ok(id)
}

/// The owner of every exception the design itself requires.
pub const DESIGN_OWNER: &str = "dxops (by design)";

/// The expiry of every exception the design itself requires: it lasts as long
/// as the design does.
pub const DESIGN_EXPIRES: &str = "2099-12-31";

/// Exceptions the design itself requires, stated like any waiver so the
/// compliance report shows them with their reason: a log sink cannot log to
/// itself, S3 refuses object-lock retention on server-access-log targets, and
/// replicas are the copy of last resort. `stack_name` maps a template file
/// (`data.yaml`) to the stack it deploys as; the recovery stack exists only
/// with a recovery region.
pub fn design_waivers(
    stack_name: impl Fn(&str) -> String,
    has_recovery_region: bool,
) -> Vec<Waiver> {
    let waiver = |stack: &str, rule: ControlId, resource: &str, reason: &str| Waiver {
        rule: rule.as_str().into(),
        resource: format!("{}/{resource}", stack_name(stack)),
        reason: reason.into(),
        owner: DESIGN_OWNER.into(),
        expires: DESIGN_EXPIRES.into(),
    };
    let mut sinks = vec![("data.yaml", "AccessLogsBucket")];
    let mut replicas = Vec::new();
    if has_recovery_region {
        sinks.push(("recovery.yaml", "ReplicaLogsBucket"));
        replicas = vec![
            ("recovery.yaml", "ReplicaBucket"),
            ("recovery.yaml", "ReplicaLogsBucket"),
        ];
    }
    let mut out = Vec::new();
    for (stack, bucket) in sinks {
        out.push(waiver(
            stack,
            ControlId::S3AccessLogging,
            bucket,
            "it is the access-log sink; logging it into itself would loop",
        ));
        out.push(waiver(
            stack,
            ControlId::S3ObjectLock,
            bucket,
            "S3 does not deliver server access logs to buckets with a default object-lock retention",
        ));
    }
    for (stack, bucket) in replicas {
        out.push(waiver(
            stack,
            ControlId::S3Replication,
            bucket,
            "it holds the replicas in the recovery region; a copy of the copy adds no recovery point",
        ));
    }
    out
}

/// Accept exactly `YYYY-MM-DD` naming a real calendar day.
pub fn validate_date(value: &str) -> Result<(), WaiverError> {
    let bad = || WaiverError::BadDate {
        value: value.to_string(),
    };
    let b = value.as_bytes();
    if !value.is_ascii() || b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return Err(bad());
    }
    let digits = |r: std::ops::Range<usize>| -> Result<u32, WaiverError> {
        let s = &value[r];
        if s.bytes().all(|c| c.is_ascii_digit()) {
            s.parse().map_err(|_| bad())
        } else {
            Err(bad())
        }
    };
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return Err(bad()),
    };
    if day == 0 || day > days {
        return Err(bad());
    }
    Ok(())
}

impl Waiver {
    /// Whether this waiver covers `logical_id` in `stack`.
    pub fn covers(&self, stack: &str, logical_id: &str) -> bool {
        match self.resource.split_once('/') {
            Some((s, id)) => s == stack && id == logical_id,
            None => self.resource == logical_id,
        }
    }

    /// Expired when its last day is before `today` (both validated dates, so
    /// string order is date order).
    pub fn expired(&self, today: &str) -> bool {
        self.expires.as_str() < today
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert!(validate_date("2028-02-29").is_ok());
        assert!(validate_date("1900-02-29").is_err());
        assert!(validate_date("2026-06-31").is_err());
        assert!(validate_date("2026-06-3a").is_err());
        assert!(validate_date("2026-06-30 ").is_err());
        assert!(validate_date("+026-06-30").is_err());
        assert!(validate_date("xé-06-300").is_err());
    }

    #[test]
    fn coverage_and_expiry() {
        let w = Waiver {
            rule: "s3-versioning".into(),
            resource: "stack/Bucket".into(),
            reason: "r".into(),
            owner: "o".into(),
            expires: "2026-12-31".into(),
        };
        assert!(w.covers("stack", "Bucket"));
        assert!(!w.covers("other", "Bucket"));
        assert!(!w.covers("stack", "Bucket2"));
        assert!(!w.expired("2026-12-31"));
        assert!(w.expired("2027-01-01"));
    }

    #[test]
    fn text_that_would_substitute_in_a_template_is_refused() {
        let w = Waiver {
            rule: "s3-versioning".into(),
            resource: "Bucket".into(),
            reason: "costs ${AWS::AccountId}".into(),
            owner: "o".into(),
            expires: "2026-12-31".into(),
        };
        assert_eq!(
            check_waiver(&w),
            Err(WaiverError::Substitution { field: "reason" })
        );
        let ok = Waiver {
            reason: "costs $ {AWS::AccountId}".into(),
            ..w
        };
        assert_eq!(check_waiver(&ok), Ok(()));
    }

    #[test]
    fn design_waivers_are_valid_and_scoped_to_their_stack() {
        let name = |file: &str| format!("dx-{}", file.trim_end_matches(".yaml"));
        assert_eq!(design_waivers(name, false).len(), 2);
        let all = design_waivers(name, true);
        assert_eq!(all.len(), 6);
        for w in &all {
            assert_eq!(check_waiver(w), Ok(()), "{w:?}");
            assert!(w.resource.starts_with("dx-data/") || w.resource.starts_with("dx-recovery/"));
        }
    }
}
