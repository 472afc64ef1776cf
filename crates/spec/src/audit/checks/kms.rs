//! KMS keys: rotation and key policies.

use crate::audit::catalogue::{Control, ControlId, control_entry};
use crate::audit::template::{is_true, principal_is_star, statements, str_of};

use super::Out;

/// Catalogue entries of the controls checked here.
pub(in crate::audit) const CONTROLS: &[Control] = &[
    control_entry!(
        KmsKeyRotation,
        "key-management",
        Medium,
        true,
        &["164.312(a)(2)(iv)"],
        "Rotating key material limits how much data one key version protects.",
        "AWS::KMS::Key (symmetric): EnableKeyRotation is true."
    ),
    control_entry!(
        KmsKeyPolicyNoWildcardPrincipal,
        "key-management",
        High,
        true,
        &["164.312(a)(1)", "164.312(a)(2)(iv)"],
        "A key policy that lets anyone use the key defeats encryption as an access control.",
        "AWS::KMS::Key KeyPolicy: no Allow statement with Principal \"*\" or {AWS: \"*\"} unless it has a Condition."
    ),
];

/// Rotation and key policies of KMS keys.
pub(super) fn check(out: &mut Out) {
    for k in out.tpl.of_type("AWS::KMS::Key") {
        let spec = str_of(k.prop(&["KeySpec"])).unwrap_or("SYMMETRIC_DEFAULT");
        if spec == "SYMMETRIC_DEFAULT" {
            let ptr = k.ptr(&["EnableKeyRotation"]);
            if is_true(k.prop(&["EnableKeyRotation"])) {
                out.pass(
                    ControlId::KmsKeyRotation,
                    &k,
                    ptr,
                    "automatic rotation is enabled",
                );
            } else {
                out.fail(
                    ControlId::KmsKeyRotation,
                    &k,
                    ptr,
                    "EnableKeyRotation is not true",
                );
            }
        }
        let doc_ptr = k.ptr(&["KeyPolicy"]);
        let mut problems = Vec::new();
        if let Some(doc) = k.prop(&["KeyPolicy"]) {
            for (ptr, stmt) in statements(doc, &doc_ptr) {
                if str_of(stmt.get("Effect")) == Some("Allow")
                    && principal_is_star(stmt.get("Principal"))
                    && stmt.get("Condition").is_none()
                {
                    problems.push((
                        format!("{ptr}/Principal"),
                        "allows any principal without a Condition".into(),
                    ));
                }
            }
        }
        out.judge(
            ControlId::KmsKeyPolicyNoWildcardPrincipal,
            &k,
            doc_ptr,
            "no unconditioned wildcard principal",
            problems,
        );
    }
}
