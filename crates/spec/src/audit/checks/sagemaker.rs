//! SageMaker: endpoint, job and pipeline-step encryption, network
//! isolation, VPC placement, notebook hardening and alarms.

use serde_json::Value;

use crate::audit::catalogue::{AT_REST, Control, ControlId, TRANSIT, control_entry};
use crate::audit::template::{Resource, cmk, get, is_false, is_true, items, str_of};

use super::Out;

/// Catalogue entries of the controls checked here.
pub(in crate::audit) const CONTROLS: &[Control] = &[
    control_entry!(
        SageMakerJobKmsEncryption,
        "encryption-at-rest",
        High,
        false,
        AT_REST,
        "Training, processing, transform and monitoring jobs write PHI to volumes and S3 outputs that must be encrypted with a customer-managed key.",
        "AWS::SageMaker::Pipeline PipelineDefinitionBody steps (Processing, Training, Transform): volume and output KmsKeyId set; the same for every job an AWS::StepFunctions::StateMachine task creates (sagemaker:createProcessingJob, createTrainingJob, createTransformJob, createHyperParameterTuningJob); AWS::SageMaker::MonitoringSchedule and *JobDefinition: VolumeKmsKeyId and output KmsKeyId set."
    ),
    control_entry!(
        SageMakerEndpointKmsEncryption,
        "encryption-at-rest",
        High,
        false,
        AT_REST,
        "Endpoint instance storage may hold inference payloads, and captured requests and responses are PHI; both must use a customer-managed key.",
        "AWS::SageMaker::EndpointConfig: KmsKeyId references a customer-managed key, and so does DataCaptureConfig KmsKeyId when data capture is configured."
    ),
    control_entry!(
        SageMakerInterContainerEncryption,
        "transmission-security",
        High,
        false,
        TRANSIT,
        "Distributed training exchanges data between instances; that traffic must be encrypted.",
        "AWS::SageMaker::Pipeline training steps: EnableInterContainerTrafficEncryption is true; AWS::SageMaker::MonitoringSchedule (inline job) and *JobDefinition: NetworkConfig EnableInterContainerTrafficEncryption is true."
    ),
    control_entry!(
        SageMakerEndpointAlarm,
        "availability",
        Medium,
        true,
        &["164.308(a)(1)(ii)(D)", "164.308(a)(7)"],
        "Endpoint failures must be noticed and acted upon.",
        "AWS::SageMaker::Endpoint: an AWS::CloudWatch::Alarm with dimension EndpointName referencing it (GetAtt EndpointName or its literal name)."
    ),
    control_entry!(
        AlarmActions,
        "availability",
        Medium,
        true,
        &["164.312(b)", "164.308(a)(1)(ii)(D)"],
        "An alarm nobody is told about protects nothing.",
        "AWS::CloudWatch::Alarm: ActionsEnabled is not false, AlarmActions and InsufficientDataActions each have at least one entry."
    ),
    control_entry!(
        SageMakerNetworkIsolation,
        "isolation",
        High,
        true,
        &["164.312(a)(1)", "164.312(e)(1)"],
        "Containers handling PHI must not be able to send it anywhere on their own.",
        "AWS::SageMaker::Model EnableNetworkIsolation true; pipeline training steps EnableNetworkIsolation true; processing steps NetworkConfig.EnableNetworkIsolation true."
    ),
    control_entry!(
        SageMakerVpc,
        "isolation",
        High,
        true,
        &["164.312(a)(1)", "164.312(e)(1)"],
        "Model containers and jobs must run inside the hospital's VPC.",
        "AWS::SageMaker::Model VpcConfig; pipeline training steps VpcConfig; processing steps NetworkConfig.VpcConfig (each with Subnets and SecurityGroupIds)."
    ),
    control_entry!(
        SageMakerNotebookHardening,
        "isolation",
        High,
        true,
        &["164.312(a)(1)", "164.312(e)(1)"],
        "Notebooks must not give users root or a direct path to the internet.",
        "AWS::SageMaker::NotebookInstance: RootAccess Disabled, DirectInternetAccess Disabled, SubnetId set, KmsKeyId set, InstanceMetadataServiceConfiguration MinimumInstanceMetadataServiceVersion 2."
    ),
];

/// Endpoints, models, notebooks, alarms, monitoring jobs and pipelines.
pub(super) fn check(out: &mut Out) {
    let tpl = out.tpl;
    for ec in tpl.of_type("AWS::SageMaker::EndpointConfig") {
        out.key(
            ControlId::SageMakerEndpointKmsEncryption,
            &ec,
            &["KmsKeyId"],
        );
        // Captured payloads land in S3 under the capture config's own key,
        // not the endpoint's: without it they fall back to the bucket default.
        if ec.prop(&["DataCaptureConfig"]).is_some() {
            out.key(
                ControlId::SageMakerEndpointKmsEncryption,
                &ec,
                &["DataCaptureConfig", "KmsKeyId"],
            );
        }
    }
    for m in tpl.of_type("AWS::SageMaker::Model") {
        let ptr = m.ptr(&["EnableNetworkIsolation"]);
        if is_true(m.prop(&["EnableNetworkIsolation"])) {
            out.pass(
                ControlId::SageMakerNetworkIsolation,
                &m,
                ptr,
                "network isolation is enabled",
            );
        } else {
            out.fail(
                ControlId::SageMakerNetworkIsolation,
                &m,
                ptr,
                "EnableNetworkIsolation is not true",
            );
        }
        vpc_config(
            out,
            &m,
            &["VpcConfig"],
            m.prop(&["VpcConfig"]),
            "Subnets",
            "VpcConfig",
        );
    }
    for n in tpl.of_type("AWS::SageMaker::NotebookInstance") {
        let mut problems = Vec::new();
        for (k, want) in [
            ("RootAccess", "Disabled"),
            ("DirectInternetAccess", "Disabled"),
        ] {
            if str_of(n.prop(&[k])) != Some(want) {
                problems.push((n.ptr(&[k]), format!("{k} is not {want}")));
            }
        }
        if n.prop(&["SubnetId"]).is_none() {
            problems.push((n.ptr(&["SubnetId"]), "SubnetId is not set".into()));
        }
        let imds = [
            "InstanceMetadataServiceConfiguration",
            "MinimumInstanceMetadataServiceVersion",
        ];
        let v2 = n
            .prop(&imds)
            .is_some_and(|v| v.as_str() == Some("2") || v.as_u64() == Some(2));
        if !v2 {
            problems.push((
                n.ptr(&imds),
                "instance metadata service v1 is allowed; require version 2".into(),
            ));
        }
        if let Err(e) = cmk(tpl, n.prop(&["KmsKeyId"])) {
            problems.push((n.ptr(&["KmsKeyId"]), format!("KmsKeyId: {e}")));
        }
        out.judge(
            ControlId::SageMakerNotebookHardening,
            &n,
            n.ptr(&[]),
            "no root, no direct internet, in a subnet, encrypted",
            problems,
        );
    }
    // Endpoint alarms.
    let alarms = tpl.of_type("AWS::CloudWatch::Alarm");
    for e in tpl.of_type("AWS::SageMaker::Endpoint") {
        let name = str_of(e.prop(&["EndpointName"]));
        let targets = |v: &Value| -> bool {
            if let Some(a) = v.get("Fn::GetAtt").and_then(Value::as_array) {
                return a.first().and_then(Value::as_str) == Some(e.id)
                    && a.get(1).and_then(Value::as_str) == Some("EndpointName");
            }
            if let Some(s) = v.get("Fn::GetAtt").and_then(Value::as_str) {
                return s == format!("{}.EndpointName", e.id);
            }
            name.is_some() && v.as_str() == name
        };
        let found = alarms.iter().find(|a| {
            let mut dims: Vec<&Value> = items(a.prop(&["Dimensions"]));
            for m in items(a.prop(&["Metrics"])) {
                dims.extend(items(get(m, &["MetricStat", "Metric", "Dimensions"])));
            }
            dims.iter().any(|d| {
                str_of(d.get("Name")) == Some("EndpointName") && d.get("Value").is_some_and(targets)
            })
        });
        let ptr = e.ptr(&[]);
        match found {
            Some(a) => out.pass(
                ControlId::SageMakerEndpointAlarm,
                &e,
                ptr,
                format!("alarm `{}` watches this endpoint", a.id),
            ),
            None => out.fail(
                ControlId::SageMakerEndpointAlarm,
                &e,
                ptr,
                "no CloudWatch alarm has dimension EndpointName referencing this endpoint",
            ),
        }
    }
    for a in &alarms {
        let mut problems = Vec::new();
        if is_false(a.prop(&["ActionsEnabled"])) {
            problems.push((
                a.ptr(&["ActionsEnabled"]),
                "ActionsEnabled is false".to_string(),
            ));
        }
        for k in ["AlarmActions", "InsufficientDataActions"] {
            if items(a.prop(&[k])).is_empty() {
                problems.push((a.ptr(&[k]), format!("{k} is empty")));
            }
        }
        out.judge(
            ControlId::AlarmActions,
            a,
            a.ptr(&["AlarmActions"]),
            "notifies when it fires",
            problems,
        );
    }
    // Monitoring schedules and job definitions.
    for s in tpl.of_type("AWS::SageMaker::MonitoringSchedule") {
        let base = ["MonitoringScheduleConfig", "MonitoringJobDefinition"];
        if s.prop(&base).is_none() {
            continue; // refers to a separate job definition, judged on its own
        }
        let vol = [
            base[0],
            base[1],
            "MonitoringResources",
            "ClusterConfig",
            "VolumeKmsKeyId",
        ];
        let outk = [base[0], base[1], "MonitoringOutputConfig", "KmsKeyId"];
        let mut problems = Vec::new();
        for path in [&vol[..], &outk[..]] {
            if let Err(e) = cmk(tpl, s.prop(path)) {
                problems.push((s.ptr(path), format!("{}: {e}", path[2..].join("."))));
            }
        }
        out.judge(
            ControlId::SageMakerJobKmsEncryption,
            &s,
            s.ptr(&base),
            "volume and output keys are customer-managed",
            problems,
        );
        intercontainer(
            out,
            &s,
            &[
                "MonitoringScheduleConfig",
                "MonitoringJobDefinition",
                "NetworkConfig",
            ],
        );
    }
    for (ty, output) in [
        (
            "AWS::SageMaker::DataQualityJobDefinition",
            "DataQualityJobOutputConfig",
        ),
        (
            "AWS::SageMaker::ModelQualityJobDefinition",
            "ModelQualityJobOutputConfig",
        ),
        (
            "AWS::SageMaker::ModelBiasJobDefinition",
            "ModelBiasJobOutputConfig",
        ),
        (
            "AWS::SageMaker::ModelExplainabilityJobDefinition",
            "ModelExplainabilityJobOutputConfig",
        ),
    ] {
        for d in tpl.of_type(ty) {
            let mut problems = Vec::new();
            for path in [
                &["JobResources", "ClusterConfig", "VolumeKmsKeyId"][..],
                &[output, "KmsKeyId"][..],
            ] {
                if let Err(e) = cmk(tpl, d.prop(path)) {
                    problems.push((d.ptr(path), format!("{}: {e}", path.join("."))));
                }
            }
            out.judge(
                ControlId::SageMakerJobKmsEncryption,
                &d,
                d.ptr(&[]),
                "volume and output keys are customer-managed",
                problems,
            );
            intercontainer(out, &d, &["NetworkConfig"]);
        }
    }
    for p in tpl.of_type("AWS::SageMaker::Pipeline") {
        pipeline(out, &p);
    }
    for sm in tpl.of_type("AWS::StepFunctions::StateMachine") {
        state_machine_jobs(out, &sm);
    }
}

/// Inter-container traffic encryption of a monitoring job's network config.
fn intercontainer(out: &mut Out, r: &Resource, network: &[&str]) {
    let mut path = network.to_vec();
    path.push("EnableInterContainerTrafficEncryption");
    let ptr = r.ptr(&path);
    if is_true(r.prop(&path)) {
        out.pass(
            ControlId::SageMakerInterContainerEncryption,
            r,
            ptr,
            "traffic between job instances is encrypted",
        );
    } else {
        out.fail(
            ControlId::SageMakerInterContainerEncryption,
            r,
            ptr,
            format!("{} is not true", path.join(".")),
        );
    }
}

fn vpc_config(
    out: &mut Out,
    r: &Resource,
    path: &[&str],
    cfg: Option<&Value>,
    subnets: &str,
    what: &str,
) {
    let ptr = r.ptr(path);
    let ok = cfg
        .map(|c| {
            c.get(subnets)
                .is_some_and(|v| !v.is_null() && v.as_array().is_none_or(|a| !a.is_empty()))
                && c.get("SecurityGroupIds")
                    .is_some_and(|v| !v.is_null() && v.as_array().is_none_or(|a| !a.is_empty()))
        })
        .unwrap_or(false);
    if ok {
        out.pass(
            ControlId::SageMakerVpc,
            r,
            ptr,
            format!("{what} has subnets and security groups"),
        );
    } else {
        out.fail(
            ControlId::SageMakerVpc,
            r,
            ptr,
            format!("{what} with {subnets} and SecurityGroupIds is missing"),
        );
    }
}

/// The pipeline definition JSON, or why it cannot be read.
pub(super) fn pipeline_body(p: &Resource) -> Result<Value, String> {
    let def = p
        .prop(&["PipelineDefinition"])
        .ok_or("PipelineDefinition is missing")?;
    let body = def.get("PipelineDefinitionBody").ok_or(
        "the definition is not inline (PipelineDefinitionS3Location); inline it as PipelineDefinitionBody so it can be audited",
    )?;
    embedded_json(body, "PipelineDefinitionBody")
}

/// A JSON document held as text, plain or as the template of an `Fn::Sub`
/// (its `${…}` placeholders sit inside JSON strings, so it parses as is).
fn embedded_json(body: &Value, what: &str) -> Result<Value, String> {
    let text = match body {
        Value::String(s) => s.as_str(),
        Value::Object(o) => match o.get("Fn::Sub") {
            Some(Value::String(s)) => s.as_str(),
            Some(Value::Array(a)) => a
                .first()
                .and_then(Value::as_str)
                .ok_or("Fn::Sub has no template string")?,
            _ => return Err(format!("{what} is neither a string nor Fn::Sub")),
        },
        _ => return Err(format!("{what} is not a string")),
    };
    serde_json::from_str(text).map_err(|e| format!("{what} is not valid JSON: {e}"))
}

/// Steps with their pointer inside the definition, descending into
/// condition steps.
pub(super) fn collect_steps<'v>(steps: &'v Value, base: &str, out: &mut Vec<(String, &'v Value)>) {
    for (i, step) in steps.as_array().into_iter().flatten().enumerate() {
        let ptr = format!("{base}/{i}");
        for branch in ["IfSteps", "ElseSteps"] {
            if let Some(inner) = get(step, &["Arguments", branch]) {
                collect_steps(inner, &format!("{ptr}/Arguments/{branch}"), out);
            }
        }
        out.push((ptr, step));
    }
}

fn pipeline(out: &mut Out, p: &Resource) {
    let body_ptr = p.ptr(&["PipelineDefinition", "PipelineDefinitionBody"]);
    let def = match pipeline_body(p) {
        Ok(d) => d,
        Err(e) => {
            out.fail(
                ControlId::SageMakerJobKmsEncryption,
                p,
                body_ptr,
                format!("cannot judge the pipeline's jobs: {e}"),
            );
            return;
        }
    };
    let mut steps = Vec::new();
    if let Some(s) = def.get("Steps") {
        collect_steps(s, "/Steps", &mut steps);
    }
    steps.sort_by(|a, b| a.0.cmp(&b.0));
    for (sp, step) in steps {
        let start = out.obs.len();
        judge_step(out, p, &body_ptr, &sp, step, "Arguments");
        for o in &mut out.obs[start..] {
            o.inner = Some(sp.clone());
        }
    }
}

/// One job request, a pipeline step's `Arguments` or a state machine task's
/// `Parameters` (`request_key`): both are the SageMaker Create*Job request.
fn judge_step(
    out: &mut Out,
    p: &Resource,
    body_ptr: &str,
    sp: &str,
    step: &Value,
    request_key: &str,
) {
    let tpl = out.tpl;
    let body_ptr = body_ptr.to_string();
    let key_ok = |v: Option<&Value>| cmk(tpl, v);
    let name = str_of(step.get("Name")).unwrap_or("?");
    let ty = str_of(step.get("Type")).unwrap_or("");
    let args = step.get(request_key).unwrap_or(&Value::Null);
    let (args, ap) = if ty == "Tuning" {
        (
            args.get("TrainingJobDefinition").unwrap_or(&Value::Null),
            format!("{sp}/{request_key}/TrainingJobDefinition"),
        )
    } else {
        (args, format!("{sp}/{request_key}"))
    };
    let label = |path: &str| format!("step `{name}` ({ty}) {ap}/{path}");
    let mut enc = Vec::new();
    let key_paths: &[&[&str]] = match ty {
        "Processing" => &[
            &["ProcessingResources", "ClusterConfig", "VolumeKmsKeyId"],
            &["ProcessingOutputConfig", "KmsKeyId"],
        ],
        "Training" | "Tuning" => &[
            &["ResourceConfig", "VolumeKmsKeyId"],
            &["OutputDataConfig", "KmsKeyId"],
        ],
        "Transform" => &[
            &["TransformResources", "VolumeKmsKeyId"],
            &["TransformOutput", "KmsKeyId"],
        ],
        _ => &[],
    };
    if key_paths.is_empty() {
        return;
    }
    for path in key_paths {
        if let Err(e) = key_ok(get(args, path)) {
            enc.push((body_ptr.clone(), format!("{}: {e}", label(&path.join("/")))));
        }
    }
    let pass_msg = format!("step `{name}` ({ty}): volume and output keys are customer-managed");
    out.judge(
        ControlId::SageMakerJobKmsEncryption,
        p,
        body_ptr.clone(),
        &pass_msg,
        enc,
    );
    match ty {
        "Training" | "Tuning" => {
            let checks = [
                (
                    ControlId::SageMakerInterContainerEncryption,
                    "EnableInterContainerTrafficEncryption",
                ),
                (
                    ControlId::SageMakerNetworkIsolation,
                    "EnableNetworkIsolation",
                ),
            ];
            for (control, key) in checks {
                if is_true(args.get(key)) {
                    out.pass(
                        control,
                        p,
                        body_ptr.clone(),
                        format!("step `{name}` ({ty}): {key} is true"),
                    );
                } else {
                    out.fail(
                        control,
                        p,
                        body_ptr.clone(),
                        format!("{} is not true", label(key)),
                    );
                }
            }
            step_vpc(
                out,
                p,
                &body_ptr,
                args.get("VpcConfig"),
                &label("VpcConfig"),
                name,
                ty,
            );
        }
        "Processing" => {
            let nc = args.get("NetworkConfig").unwrap_or(&Value::Null);
            if is_true(nc.get("EnableNetworkIsolation")) {
                out.pass(
                    ControlId::SageMakerNetworkIsolation,
                    p,
                    body_ptr.clone(),
                    format!("step `{name}` ({ty}): network isolation is enabled"),
                );
            } else {
                out.fail(
                    ControlId::SageMakerNetworkIsolation,
                    p,
                    body_ptr.clone(),
                    format!(
                        "{} is not true",
                        label("NetworkConfig/EnableNetworkIsolation")
                    ),
                );
            }
            step_vpc(
                out,
                p,
                &body_ptr,
                nc.get("VpcConfig"),
                &label("NetworkConfig/VpcConfig"),
                name,
                ty,
            );
        }
        _ => {}
    }
}

/// Jobs a state machine starts itself (the live-quality join, say) write PHI
/// as pipeline steps do: each task that creates one is judged as the step of
/// the same kind, with `${Name}` placeholders read through the resource's
/// DefinitionSubstitutions.
fn state_machine_jobs(out: &mut Out, sm: &Resource) {
    let def_ptr = sm.ptr(&["DefinitionString"]);
    let Some(definition) = state_machine_definition(sm) else {
        return;
    };
    let definition = match definition {
        Ok(d) => d,
        Err(e) => {
            out.fail(
                ControlId::SageMakerJobKmsEncryption,
                sm,
                def_ptr,
                format!("cannot judge the jobs this state machine starts: {e}"),
            );
            return;
        }
    };
    let substitutions = sm.prop(&["DefinitionSubstitutions"]);
    let mut tasks = Vec::new();
    collect_job_tasks(&definition, "", &mut tasks);
    for (sp, kind, parameters) in tasks {
        let step = serde_json::json!({
            "Name": sp.rsplit('/').next().unwrap_or(""),
            "Type": kind,
            "Parameters": substitute(parameters, substitutions),
        });
        let start = out.obs.len();
        judge_step(out, sm, &def_ptr, &sp, &step, "Parameters");
        for o in &mut out.obs[start..] {
            o.inner = Some(sp.clone());
        }
    }
}

/// The inline definition as JSON; `None` when the resource has none to read.
fn state_machine_definition(sm: &Resource) -> Option<Result<Value, String>> {
    if let Some(def) = sm.prop(&["Definition"]) {
        return Some(Ok(def.clone()));
    }
    if sm.prop(&["DefinitionS3Location"]).is_some() {
        return Some(Err(
            "the definition is not inline (DefinitionS3Location); inline it as DefinitionString so it can be audited".into(),
        ));
    }
    let body = sm.prop(&["DefinitionString"])?;
    Some(embedded_json(body, "DefinitionString"))
}

/// Task states that create a SageMaker job, with their pointer and the step
/// type of the same request; into Parallel branches and Map iterators too.
fn collect_job_tasks<'v>(
    def: &'v Value,
    base: &str,
    out: &mut Vec<(String, &'static str, &'v Value)>,
) {
    let Some(states) = def.get("States").and_then(Value::as_object) else {
        return;
    };
    for (name, state) in states {
        let ptr = format!("{base}/States/{name}");
        for (i, branch) in items(state.get("Branches")).iter().enumerate() {
            collect_job_tasks(branch, &format!("{ptr}/Branches/{i}"), out);
        }
        for inner in ["ItemProcessor", "Iterator"] {
            if let Some(machine) = state.get(inner) {
                collect_job_tasks(machine, &format!("{ptr}/{inner}"), out);
            }
        }
        let action = str_of(state.get("Resource"))
            .and_then(|r| r.rsplit_once("sagemaker:"))
            .map(|(_, action)| action.split('.').next().unwrap_or(action));
        let kind = match action {
            Some("createProcessingJob") => "Processing",
            Some("createTrainingJob") => "Training",
            Some("createTransformJob") => "Transform",
            Some("createHyperParameterTuningJob") => "Tuning",
            _ => continue,
        };
        let parameters = state.get("Parameters").unwrap_or(&Value::Null);
        out.push((ptr, kind, parameters));
    }
}

/// `parameters` with every string that is exactly `${Name}` replaced by the
/// substitution of that name, so keys and subnets are judged as CloudFormation
/// will fill them in.
fn substitute(parameters: &Value, substitutions: Option<&Value>) -> Value {
    match parameters {
        Value::String(s) => s
            .strip_prefix("${")
            .and_then(|t| t.strip_suffix('}'))
            .and_then(|name| substitutions?.get(name))
            .cloned()
            .unwrap_or_else(|| parameters.clone()),
        Value::Array(a) => Value::Array(a.iter().map(|v| substitute(v, substitutions)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), substitute(v, substitutions)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn step_vpc(
    out: &mut Out,
    p: &Resource,
    ptr: &str,
    cfg: Option<&Value>,
    label: &str,
    name: &str,
    ty: &str,
) {
    let nonempty = |v: Option<&Value>| {
        v.and_then(Value::as_array).is_some_and(|a| !a.is_empty())
            || v.is_some_and(|v| v.is_object() || v.is_string())
    };
    let ok = cfg.is_some_and(|c| nonempty(c.get("Subnets")) && nonempty(c.get("SecurityGroupIds")));
    if ok {
        out.pass(
            ControlId::SageMakerVpc,
            p,
            ptr.to_string(),
            format!("step `{name}` ({ty}) runs in a VPC"),
        );
    } else {
        out.fail(
            ControlId::SageMakerVpc,
            p,
            ptr.to_string(),
            format!("{label} with Subnets and SecurityGroupIds is missing"),
        );
    }
}
