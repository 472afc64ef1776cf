//! The control catalogue: every rule the audit applies, with the HIPAA Security
//! Rule sections (45 CFR Part 164) it serves.
//!
//! [`ControlId`] is the one list of controls: its order is report order and
//! its kebab-case strings are the stable external ids (reports, waivers,
//! SARIF, `docs/controls.md`). Each control's entry sits next to its check in
//! `checks/<family>.rs`; [`CONTROLS`] gathers them at compile time, so a
//! control without an entry, or with two, does not build.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

pub use super::checks::governance::TAGGABLE_TYPES;
pub use super::checks::iam::STAR_ONLY_ACTIONS;
use super::checks::{apigateway, governance, iam, kms, lambda, logs, s3, sagemaker, stores};

/// How much a failing control matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }
}

macro_rules! control_ids {
    ($($variant:ident => $id:literal,)+) => {
        /// A control, checked at compile time. Declaration order is report
        /// order; [`ControlId::as_str`] is the external id.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum ControlId {
            $(#[doc = concat!("`", $id, "`")] $variant,)+
        }

        impl ControlId {
            /// Every control, in report order.
            pub const ALL: &'static [ControlId] = &[$(ControlId::$variant,)+];

            /// The stable kebab-case id.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ControlId::$variant => $id,)+
                }
            }
        }

        impl FromStr for ControlId {
            type Err = UnknownControl;

            fn from_str(s: &str) -> Result<Self, UnknownControl> {
                match s {
                    $($id => Ok(ControlId::$variant),)+
                    _ => Err(UnknownControl(s.to_string())),
                }
            }
        }
    };
}

control_ids! {
    S3KmsEncryption => "s3-kms-encryption",
    SageMakerJobKmsEncryption => "sagemaker-job-kms-encryption",
    SageMakerEndpointKmsEncryption => "sagemaker-endpoint-kms-encryption",
    LogsKmsEncryption => "logs-kms-encryption",
    SnsKmsEncryption => "sns-kms-encryption",
    SqsKmsEncryption => "sqs-kms-encryption",
    StepFunctionsKmsEncryption => "stepfunctions-kms-encryption",
    GlueKmsEncryption => "glue-kms-encryption",
    LambdaEnvKmsEncryption => "lambda-env-kms-encryption",
    ApiGatewayCacheEncryption => "apigateway-cache-encryption",
    KmsKeyRotation => "kms-key-rotation",
    KmsKeyPolicyNoWildcardPrincipal => "kms-key-policy-no-wildcard-principal",
    S3TlsOnly => "s3-tls-only",
    SqsTlsOnly => "sqs-tls-only",
    ApiGatewayTls12 => "apigateway-tls12",
    SageMakerInterContainerEncryption => "sagemaker-intercontainer-encryption",
    S3PublicAccessBlock => "s3-public-access-block",
    ApiGatewayClientCertificate => "apigateway-client-certificate",
    ApiGatewayWaf => "apigateway-waf",
    ApiGatewayMethodAuthorization => "apigateway-method-authorization",
    ApiGatewayRequestValidation => "apigateway-request-validation",
    ApiGatewayModelBehindGateway => "apigateway-model-behind-gateway",
    LambdaPermissionScoped => "lambda-permission-scoped",
    IamNoWildcardAction => "iam-no-wildcard-action",
    IamNoWildcardResource => "iam-no-wildcard-resource",
    IamNoAdminAccess => "iam-no-admin-access",
    IamNoInlinePolicy => "iam-no-inline-policy",
    IamRoleSingleService => "iam-role-single-service",
    IamRolePerJob => "iam-role-per-job",
    IamTrustScoped => "iam-trust-scoped",
    S3AccessLogging => "s3-access-logging",
    ApiGatewayAccessLogging => "apigateway-access-logging",
    S3EventNotifications => "s3-event-notifications",
    StepFunctionsLogging => "stepfunctions-logging",
    LogRetention => "log-retention",
    S3Replication => "s3-replication",
    S3ObjectLock => "s3-object-lock",
    S3Versioning => "s3-versioning",
    DataStoreRetain => "data-store-retain",
    SageMakerEndpointAlarm => "sagemaker-endpoint-alarm",
    AlarmActions => "alarm-actions",
    SageMakerNetworkIsolation => "sagemaker-network-isolation",
    SageMakerVpc => "sagemaker-vpc",
    SageMakerNotebookHardening => "sagemaker-notebook-hardening",
    LambdaInVpc => "lambda-in-vpc",
    LambdaResilience => "lambda-resilience",
    LambdaAliasRollback => "lambda-alias-rollback",
    LambdaRuntimeCurrent => "lambda-runtime-current",
    DataClassificationTag => "data-classification-tag",
    WaiverValid => "waiver-valid",
}

/// A string that names no control.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown control `{0}`")]
pub struct UnknownControl(pub String);

impl ControlId {
    /// This control's catalogue entry.
    pub fn entry(self) -> &'static Control {
        &CONTROLS[self as usize]
    }
}

impl fmt::Display for ControlId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One auditable control.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Control {
    /// Which control this is.
    #[serde(skip)]
    pub key: ControlId,
    /// Stable kebab-case id (`key.as_str()`); waivers and reports refer to it.
    pub id: &'static str,
    /// The family it belongs to (encryption, transit, access, audit, ...).
    pub family: &'static str,
    pub severity: Severity,
    /// One line: why the control exists.
    pub rationale: &'static str,
    /// What is checked, and on which resource types.
    pub check: &'static str,
    /// 45 CFR sections the control serves.
    pub cfr: &'static [&'static str],
    /// Whether a spec may waive a failure of this control.
    pub waivable: bool,
}

pub(crate) const AT_REST: &[&str] = &["164.312(a)(2)(iv)", "164.312(c)(1)"];
pub(crate) const TRANSIT: &[&str] = &["164.312(e)(1)", "164.312(e)(2)(ii)"];
pub(crate) const ACCESS: &[&str] = &["164.312(a)(1)", "164.308(a)(4)(ii)(B)"];
pub(crate) const AUDIT: &[&str] = &["164.312(b)", "164.308(a)(1)(ii)(D)"];

/// A catalogue entry; the external id is derived from the variant so the two
/// cannot disagree.
macro_rules! control_entry {
    ($key:ident, $family:literal, $sev:ident, $waivable:literal, $cfr:expr, $rationale:literal, $check:literal) => {
        $crate::audit::catalogue::Control {
            key: $crate::audit::catalogue::ControlId::$key,
            id: $crate::audit::catalogue::ControlId::$key.as_str(),
            family: $family,
            severity: $crate::audit::catalogue::Severity::$sev,
            rationale: $rationale,
            check: $check,
            cfr: $cfr,
            waivable: $waivable,
        }
    };
}
pub(crate) use control_entry;

const COUNT: usize = ControlId::ALL.len();

/// Place each family's entries at their control's index, refusing (at
/// compile time) a control with no entry or with two.
const fn gather(tables: &[&[Control]]) -> [Control; COUNT] {
    let mut slots: [Option<Control>; COUNT] = [None; COUNT];
    let mut t = 0;
    while t < tables.len() {
        let mut i = 0;
        while i < tables[t].len() {
            let c = tables[t][i];
            assert!(
                slots[c.key as usize].is_none(),
                "a control has two catalogue entries"
            );
            slots[c.key as usize] = Some(c);
            i += 1;
        }
        t += 1;
    }
    let Some(first) = slots[0] else {
        panic!("a control has no catalogue entry");
    };
    let mut out = [first; COUNT];
    let mut k = 0;
    while k < COUNT {
        let Some(c) = slots[k] else {
            panic!("a control has no catalogue entry");
        };
        out[k] = c;
        k += 1;
    }
    out
}

const CATALOGUE: [Control; COUNT] = gather(&[
    s3::CONTROLS,
    sagemaker::CONTROLS,
    logs::CONTROLS,
    stores::CONTROLS,
    lambda::CONTROLS,
    apigateway::CONTROLS,
    kms::CONTROLS,
    iam::CONTROLS,
    governance::CONTROLS,
    super::waiver::CONTROLS,
]);

/// Every control, in report order (the order of [`ControlId`]).
pub const CONTROLS: &[Control] = &CATALOGUE;

/// The control with this external id.
pub fn control(id: &str) -> Option<&'static Control> {
    id.parse::<ControlId>().ok().map(ControlId::entry)
}

/// Controls a waiver may never name: customer-managed encryption at rest of
/// data stores, TLS in transit and S3 public access.
pub fn never_waivable() -> impl Iterator<Item = &'static Control> {
    CONTROLS.iter().filter(|c| !c.waivable)
}

fn escape_cell(text: &str) -> String {
    text.replace('|', "\\|")
}

/// The `docs/controls.md` text, generated from the catalogue.
pub fn controls_markdown() -> String {
    let mut out = String::new();
    out.push_str("# Audit controls\n\n");
    out.push_str(
        "<!-- Generated from src/audit/catalogue.rs; a test keeps this file in step. -->\n\n",
    );
    out.push_str(
        "`dxops audit` judges rendered CloudFormation templates against these controls. \
         Sections refer to the HIPAA Security Rule, 45 CFR Part 164. A waiver \
         (`compliance.waivers` in the spec) may excuse a failure only where *Waivable* is yes.\n\n",
    );
    out.push_str("| Id | Family | Severity | Waivable | 45 CFR | Rationale | Check |\n");
    out.push_str("|---|---|---|---|---|---|---|\n");
    for c in CONTROLS {
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} | {} |\n",
            c.id,
            c.family,
            c.severity.as_str(),
            if c.waivable { "yes" } else { "no" },
            c.cfr.join(", "),
            escape_cell(c.rationale),
            escape_cell(c.check),
        ));
    }
    out.push_str("\n## Taggable resource types\n\n");
    out.push_str("`data-classification-tag` applies to these types:\n\n");
    for t in TAGGABLE_TYPES {
        out.push_str(&format!("- `{t}`\n"));
    }
    out.push_str("\n## Actions that only support `Resource: \"*\"`\n\n");
    out.push_str(
        "`iam-no-wildcard-resource` accepts `Resource: \"*\"` only when every action of the \
         statement is in this list and the statement has a `Condition`:\n\n",
    );
    for a in STAR_ONLY_ACTIONS {
        out.push_str(&format!("- `{a}`\n"));
    }
    out.push_str("\n## Waivers\n\n");
    out.push_str(
        "A waiver names a control (`rule`), a resource (`resource`: a logical id, or \
         `stack/LogicalId` to restrict it to one stack), a `reason`, an `owner` and an \
         `expires` date (YYYY-MM-DD). A waiver past its expiry date no longer applies and is \
         reported under `waiver-valid`; a waiver that matches no failure is reported as a \
         warning. These controls can never be waived: ",
    );
    let ids: Vec<String> = never_waivable().map(|c| format!("`{}`", c.id)).collect();
    out.push_str(&ids.join(", "));
    out.push_str(".\n");
    out.push_str("\n## The same control in cdk-nag and checkov\n\n");
    out.push_str(
        "A waiver of one of these controls is rendered into the resource's `Metadata` as a \
         cdk-nag suppression (`cdk_nag.rules_to_suppress`) and a checkov skip \
         (`checkov.skip`) of the rules listed, with the waiver's reason, owner and expiry.\n\n",
    );
    out.push_str("| Control | cdk-nag | checkov |\n|---|---|---|\n");
    let code = |ids: &[&str]| {
        ids.iter()
            .map(|id| format!("`{id}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for c in CONTROLS {
        let rules = super::scanners::scanner_rules(c.key);
        if rules.cdk_nag.is_empty() && rules.checkov.is_empty() {
            continue;
        }
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            c.id,
            code(rules.cdk_nag),
            code(rules.checkov)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_cfr_section(s: &str) -> bool {
        // 164.3xx followed by one or more parenthesised parts: (a), (1), (ii), (A).
        let Some(rest) = s.strip_prefix("164.3") else {
            return false;
        };
        let (num, parts) = rest.split_at(rest.find('(').unwrap_or(rest.len()));
        if num.len() != 2 || !num.bytes().all(|b| b.is_ascii_digit()) || parts.is_empty() {
            return false;
        }
        parts.split_inclusive(')').all(|p| {
            p.starts_with('(')
                && p.ends_with(')')
                && p.len() > 2
                && p[1..p.len() - 1].bytes().all(|b| b.is_ascii_alphanumeric())
        })
    }

    #[test]
    fn ids_are_unique_kebab_case_and_sections_well_formed() {
        let mut seen = std::collections::BTreeSet::new();
        for c in CONTROLS {
            assert!(seen.insert(c.id), "duplicate id {}", c.id);
            assert!(
                c.id.split('-').all(|w| !w.is_empty()
                    && w.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())),
                "{} is not kebab-case",
                c.id
            );
            assert!(!c.cfr.is_empty(), "{} serves no section", c.id);
            for s in c.cfr {
                assert!(is_cfr_section(s), "{}: bad section {s}", c.id);
            }
            assert!(
                !c.rationale.contains('\n') && c.rationale.ends_with('.'),
                "{}",
                c.id
            );
        }
        assert!(!is_cfr_section("164.312"));
        assert!(!is_cfr_section("164.312(a"));
    }

    #[test]
    fn never_waivable_set_is_encryption_transit_and_public_access() {
        let fixed: Vec<&str> = never_waivable().map(|c| c.id).collect();
        for id in [
            "s3-kms-encryption",
            "s3-tls-only",
            "sqs-tls-only",
            "s3-public-access-block",
            "apigateway-tls12",
            "sagemaker-intercontainer-encryption",
        ] {
            assert!(fixed.contains(&id), "{id}");
        }
        for c in never_waivable() {
            assert!(
                matches!(
                    c.family,
                    "encryption-at-rest"
                        | "transmission-security"
                        | "access-control"
                        | "governance"
                ),
                "{} ({})",
                c.id,
                c.family
            );
        }
        assert!(control("s3-access-logging").is_some_and(|c| c.waivable));
    }

    #[test]
    fn ids_parse_back_and_entries_sit_at_their_index() {
        assert_eq!(CONTROLS.len(), ControlId::ALL.len());
        for (i, (c, id)) in CONTROLS.iter().zip(ControlId::ALL).enumerate() {
            assert_eq!(c.key, *id);
            assert_eq!(*id as usize, i);
            assert_eq!(c.id, id.as_str());
            assert_eq!(id.as_str().parse::<ControlId>(), Ok(*id));
            assert_eq!(id.to_string(), c.id);
        }
        assert_eq!(
            "s3-acces-loging".parse::<ControlId>(),
            Err(UnknownControl("s3-acces-loging".into()))
        );
    }

    #[test]
    fn lists_are_sorted_for_stable_docs() {
        assert!(TAGGABLE_TYPES.windows(2).all(|w| w[0] < w[1]));
        let mut actions = STAR_ONLY_ACTIONS.to_vec();
        actions.sort();
        assert_eq!(actions, STAR_ONLY_ACTIONS);
    }
}
