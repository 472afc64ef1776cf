//! API Gateway: TLS, authorization, request validation, the gateway
//! function before a model, logging, client certificates, cache encryption
//! and WAF.

use serde_json::Value;

use crate::audit::catalogue::{AT_REST, AUDIT, Control, ControlId, TRANSIT, control_entry};
use crate::audit::template::{Resource, arn_text, is_true, items, ref_target, str_of};

use super::Out;

/// Catalogue entries of the controls checked here.
pub(in crate::audit) const CONTROLS: &[Control] = &[
    control_entry!(
        ApiGatewayCacheEncryption,
        "encryption-at-rest",
        High,
        true,
        AT_REST,
        "Cached API responses may hold PHI and must be encrypted at rest.",
        "AWS::ApiGateway::Stage: CacheClusterEnabled is true and MethodSettings has an entry for \"/*\" \"*\" with CachingEnabled and CacheDataEncrypted true; every MethodSettings entry that enables caching encrypts it."
    ),
    control_entry!(
        ApiGatewayTls12,
        "transmission-security",
        High,
        false,
        TRANSIT,
        "Clients must negotiate TLS 1.2 or later; older protocol versions have known weaknesses.",
        "AWS::ApiGateway::RestApi: SecurityPolicy is TLS_1_2 or a SecurityPolicy_TLS12*/TLS13* policy, and EndpointConfiguration Types is REGIONAL or PRIVATE; AWS::ApiGateway::DomainName(V2): SecurityPolicy likewise."
    ),
    control_entry!(
        ApiGatewayClientCertificate,
        "transmission-security",
        Medium,
        true,
        &["164.312(e)(1)", "164.312(d)"],
        "Back ends must be able to verify that requests come from API Gateway.",
        "AWS::ApiGateway::Stage: ClientCertificateId is set."
    ),
    control_entry!(
        ApiGatewayWaf,
        "access-control",
        Medium,
        true,
        &["164.312(a)(1)", "164.308(a)(1)(ii)(B)"],
        "A web application firewall filters malicious requests before they reach PHI, and its decisions must be logged.",
        "AWS::ApiGateway::Stage: an AWS::WAFv2::WebACLAssociation whose ResourceArn names the stage; AWS::WAFv2::WebACL: an AWS::WAFv2::LoggingConfiguration refers to it."
    ),
    control_entry!(
        ApiGatewayMethodAuthorization,
        "access-control",
        High,
        true,
        &["164.312(a)(1)", "164.312(d)"],
        "Every API call must be made by an authenticated, authorised caller.",
        "AWS::ApiGateway::Method: AuthorizationType is set and not NONE (AWS_IAM, COGNITO_USER_POOLS or CUSTOM)."
    ),
    control_entry!(
        ApiGatewayRequestValidation,
        "integrity",
        Medium,
        true,
        &["164.312(c)(1)", "164.308(a)(1)(ii)(B)"],
        "A request that carries a body must be checked at the edge (required parameters, the body against its model) before anything behind the API parses it.",
        "AWS::ApiGateway::Method with HttpMethod POST, PUT, PATCH or ANY: RequestValidatorId names an AWS::ApiGateway::RequestValidator of the same RestApiId with ValidateRequestBody and ValidateRequestParameters true."
    ),
    control_entry!(
        ApiGatewayModelBehindGateway,
        "integrity",
        Medium,
        true,
        &["164.312(c)(1)", "164.308(a)(1)(ii)(B)"],
        "A prediction request must reach the model through a function that checks it against the data contract and strips the identifiers, so that neither the model nor its data capture holds what a client should not have sent.",
        "AWS::ApiGateway::Method: Integration Uri does not call SageMaker Runtime (`runtime.sagemaker`) directly; a Lambda proxy integration (the dxops gateway, or the serving function, which checks requests itself) passes."
    ),
    control_entry!(
        ApiGatewayAccessLogging,
        "audit-controls",
        Medium,
        true,
        AUDIT,
        "Every API request must be recorded with caller identity.",
        "AWS::ApiGateway::Stage: AccessLogSetting with DestinationArn and Format; MethodSettings for \"/*\" \"*\" with LoggingLevel ERROR or INFO; TracingEnabled true."
    ),
];

/// A method whose integration is a model is reached through a function,
/// never by SageMaker Runtime straight from the edge.
fn model_behind_gateway(out: &mut Out, m: &Resource) {
    let Some(uri) = m.prop(&["Integration", "Uri"]).and_then(arn_text) else {
        return;
    };
    let ptr = m.ptr(&["Integration", "Uri"]);
    if uri.contains(":runtime.sagemaker:") {
        out.fail(
            ControlId::ApiGatewayModelBehindGateway,
            m,
            ptr,
            "the integration calls the SageMaker endpoint directly: requests reach the model and its data capture unchecked, identifiers included (turn `serving.gateway` on)",
        );
    } else if uri.contains(":lambda:path/") {
        out.pass(
            ControlId::ApiGatewayModelBehindGateway,
            m,
            ptr,
            "requests pass a function before any model",
        );
    }
}

/// A method that takes a body names a validator of its own API that checks
/// both the body and the parameters.
fn request_validation(out: &mut Out, m: &Resource) {
    let takes_body = str_of(m.prop(&["HttpMethod"])).is_some_and(|verb| {
        ["POST", "PUT", "PATCH", "ANY"]
            .iter()
            .any(|b| verb.eq_ignore_ascii_case(b))
    });
    if !takes_body {
        return;
    }
    let ptr = m.ptr(&["RequestValidatorId"]);
    let api = m.prop(&["RestApiId"]).and_then(ref_target);
    let Some(validator) = m.prop(&["RequestValidatorId"]).and_then(ref_target) else {
        out.fail(
            ControlId::ApiGatewayRequestValidation,
            m,
            ptr,
            "RequestValidatorId is unset, so the request reaches the back end unchecked",
        );
        return;
    };
    let Some(v) = out
        .tpl
        .of_type("AWS::ApiGateway::RequestValidator")
        .into_iter()
        .find(|v| v.id == validator)
    else {
        out.fail(
            ControlId::ApiGatewayRequestValidation,
            m,
            ptr,
            format!("RequestValidatorId names {validator}, which is not a request validator of this template"),
        );
        return;
    };
    let mut problems = Vec::new();
    if v.prop(&["RestApiId"]).and_then(ref_target) != api {
        problems.push((
            v.ptr(&["RestApiId"]),
            format!("validator {validator} belongs to another API"),
        ));
    }
    for flag in ["ValidateRequestBody", "ValidateRequestParameters"] {
        if !is_true(v.prop(&[flag])) {
            problems.push((
                v.ptr(&[flag]),
                format!("validator {validator} has {flag} unset or false"),
            ));
        }
    }
    out.judge(
        ControlId::ApiGatewayRequestValidation,
        m,
        ptr,
        "the body and parameters are validated by API Gateway",
        problems,
    );
}

fn tls12_policy(p: &str) -> bool {
    p == "TLS_1_2" || p.starts_with("SecurityPolicy_TLS12") || p.starts_with("SecurityPolicy_TLS13")
}

/// REST APIs, domain names, methods, stages and their web ACLs.
pub(super) fn check(out: &mut Out) {
    let tpl = out.tpl;
    waf(out);
    for api in tpl.of_type("AWS::ApiGateway::RestApi") {
        let mut problems = Vec::new();
        match str_of(api.prop(&["SecurityPolicy"])) {
            Some(p) if tls12_policy(p) => {}
            Some(p) => problems.push((
                api.ptr(&["SecurityPolicy"]),
                format!("SecurityPolicy `{p}` allows TLS below 1.2"),
            )),
            None => problems.push((
                api.ptr(&["SecurityPolicy"]),
                "SecurityPolicy is not set (TLS_1_2 or a SecurityPolicy_TLS13_* policy)".into(),
            )),
        }
        let types: Vec<&str> = items(api.prop(&["EndpointConfiguration", "Types"]))
            .into_iter()
            .filter_map(Value::as_str)
            .collect();
        if types.is_empty() || types.iter().any(|t| *t != "REGIONAL" && *t != "PRIVATE") {
            problems.push((
                api.ptr(&["EndpointConfiguration", "Types"]),
                "EndpointConfiguration Types must be REGIONAL or PRIVATE".into(),
            ));
        }
        out.judge(
            ControlId::ApiGatewayTls12,
            &api,
            api.ptr(&["SecurityPolicy"]),
            "TLS 1.2 or later on a regional or private endpoint",
            problems,
        );
    }
    for ty in [
        "AWS::ApiGateway::DomainName",
        "AWS::ApiGateway::DomainNameV2",
    ] {
        for d in tpl.of_type(ty) {
            let ptr = d.ptr(&["SecurityPolicy"]);
            match str_of(d.prop(&["SecurityPolicy"])) {
                Some(p) if tls12_policy(p) => out.pass(
                    ControlId::ApiGatewayTls12,
                    &d,
                    ptr,
                    format!("SecurityPolicy is {p}"),
                ),
                other => out.fail(
                    ControlId::ApiGatewayTls12,
                    &d,
                    ptr,
                    format!(
                        "SecurityPolicy is {}, not TLS 1.2 or later",
                        other.unwrap_or("unset")
                    ),
                ),
            }
        }
    }
    for m in tpl.of_type("AWS::ApiGateway::Method") {
        request_validation(out, &m);
        model_behind_gateway(out, &m);
        let ptr = m.ptr(&["AuthorizationType"]);
        match str_of(m.prop(&["AuthorizationType"])) {
            Some(t) if !t.eq_ignore_ascii_case("NONE") => out.pass(
                ControlId::ApiGatewayMethodAuthorization,
                &m,
                ptr,
                format!("AuthorizationType is {t}"),
            ),
            _ => out.fail(
                ControlId::ApiGatewayMethodAuthorization,
                &m,
                ptr,
                "AuthorizationType is NONE or unset",
            ),
        }
    }
    for s in tpl.of_type("AWS::ApiGateway::Stage") {
        let mut problems = Vec::new();
        if s.prop(&["AccessLogSetting", "DestinationArn"]).is_none()
            || s.prop(&["AccessLogSetting", "Format"]).is_none()
        {
            problems.push((
                s.ptr(&["AccessLogSetting"]),
                "AccessLogSetting with DestinationArn and Format is missing".to_string(),
            ));
        }
        let exec = items(s.prop(&["MethodSettings"])).iter().any(|m| {
            str_of(m.get("ResourcePath")) == Some("/*")
                && str_of(m.get("HttpMethod")) == Some("*")
                && matches!(str_of(m.get("LoggingLevel")), Some("ERROR") | Some("INFO"))
        });
        if !exec {
            problems.push((
                s.ptr(&["MethodSettings"]),
                "no MethodSettings entry for /* * with LoggingLevel ERROR or INFO".to_string(),
            ));
        }
        if !is_true(s.prop(&["TracingEnabled"])) {
            problems.push((
                s.ptr(&["TracingEnabled"]),
                "TracingEnabled is not true".to_string(),
            ));
        }
        out.judge(
            ControlId::ApiGatewayAccessLogging,
            &s,
            s.ptr(&["AccessLogSetting"]),
            "access logs, execution logs and tracing are on",
            problems,
        );

        let ptr = s.ptr(&["ClientCertificateId"]);
        if s.prop(&["ClientCertificateId"]).is_some() {
            out.pass(
                ControlId::ApiGatewayClientCertificate,
                &s,
                ptr,
                "back ends can authenticate API Gateway",
            );
        } else {
            out.fail(
                ControlId::ApiGatewayClientCertificate,
                &s,
                ptr,
                "ClientCertificateId is not set",
            );
        }

        let mut problems = Vec::new();
        if !is_true(s.prop(&["CacheClusterEnabled"])) {
            problems.push((
                s.ptr(&["CacheClusterEnabled"]),
                "CacheClusterEnabled is not true".to_string(),
            ));
        }
        let settings = items(s.prop(&["MethodSettings"]));
        let all = settings.iter().any(|m| {
            str_of(m.get("ResourcePath")) == Some("/*")
                && str_of(m.get("HttpMethod")) == Some("*")
                && is_true(m.get("CachingEnabled"))
                && is_true(m.get("CacheDataEncrypted"))
        });
        if !all {
            problems.push((
                s.ptr(&["MethodSettings"]),
                "no MethodSettings entry for /* * with CachingEnabled and CacheDataEncrypted true"
                    .to_string(),
            ));
        }
        for (i, m) in settings.iter().enumerate() {
            if is_true(m.get("CachingEnabled")) && !is_true(m.get("CacheDataEncrypted")) {
                problems.push((
                    format!("{}/{i}/CacheDataEncrypted", s.ptr(&["MethodSettings"])),
                    "caching is enabled without CacheDataEncrypted".to_string(),
                ));
            }
        }
        out.judge(
            ControlId::ApiGatewayCacheEncryption,
            &s,
            s.ptr(&["MethodSettings"]),
            "the stage cache is encrypted",
            problems,
        );
    }
}

fn waf(out: &mut Out) {
    let tpl = out.tpl;
    let associations: Vec<String> = tpl
        .of_type("AWS::WAFv2::WebACLAssociation")
        .iter()
        .filter_map(|a| a.prop(&["ResourceArn"]))
        .filter_map(|v| {
            ref_target(v)
                .map(|t| format!("${{{t}}}"))
                .or_else(|| arn_text(v))
        })
        .collect();
    for s in tpl.of_type("AWS::ApiGateway::Stage") {
        let api = s.prop(&["RestApiId"]).and_then(ref_target);
        let name = str_of(s.prop(&["StageName"]));
        let covered = associations.iter().any(|arn| {
            arn == &format!("${{{}}}", s.id)
                || arn.ends_with(&format!("/stages/${{{}}}", s.id))
                || match (api, name) {
                    (Some(api), Some(name)) => {
                        arn.ends_with(&format!("/restapis/${{{api}}}/stages/{name}"))
                    }
                    _ => false,
                }
        });
        let ptr = s.ptr(&[]);
        if covered {
            out.pass(
                ControlId::ApiGatewayWaf,
                &s,
                ptr,
                "a web ACL is associated with the stage",
            );
        } else {
            out.fail(
                ControlId::ApiGatewayWaf,
                &s,
                ptr,
                "no AWS::WAFv2::WebACLAssociation names this stage",
            );
        }
    }
    let logged: Vec<&str> = tpl
        .of_type("AWS::WAFv2::LoggingConfiguration")
        .iter()
        .filter_map(|l| l.prop(&["ResourceArn"]).and_then(ref_target))
        .collect();
    for acl in tpl.of_type("AWS::WAFv2::WebACL") {
        let ptr = acl.ptr(&[]);
        if logged.contains(&acl.id) {
            out.pass(
                ControlId::ApiGatewayWaf,
                &acl,
                ptr,
                "the web ACL's decisions are logged",
            );
        } else {
            out.fail(
                ControlId::ApiGatewayWaf,
                &acl,
                ptr,
                "no AWS::WAFv2::LoggingConfiguration refers to this web ACL",
            );
        }
    }
}
