//! Rendering: byte-for-byte determinism, the committed `stacks/` (the
//! golden copy of every rendered file) kept fresh, typed manifests, and
//! template errors caught.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// Every committed spec, as `specs/<file>`.
fn specs() -> Vec<String> {
    let mut specs: Vec<String> = std::fs::read_dir(root().join("specs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|f| f.ends_with(".yaml"))
        .map(|f| format!("specs/{f}"))
        .collect();
    specs.sort();
    specs
}

fn dxops(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dxops"))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap()
}

/// `stacks/` is the golden copy of every rendered file (guarded by
/// `committed_stacks_are_fresh`); its manifests are typed and deployable:
/// each stack imports only what an earlier stack of its region exports, and
/// its listed parameters and imports are those of its template.
#[test]
fn committed_manifests_list_stacks_in_a_deployable_order() {
    use dxops_contract::manifest::Manifest;
    let mut seen = 0;
    for env_dir in walk(&root().join("stacks"))
        .into_iter()
        .filter(|p| p.ends_with("manifest.json"))
    {
        let path = root().join("stacks").join(&env_dir);
        let manifest: Manifest =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        manifest.check_order().unwrap();
        assert_eq!(manifest.stacks.last().unwrap().file, "serving.yaml");
        for stack in &manifest.stacks {
            let template = std::fs::read_to_string(path.with_file_name(&stack.file)).unwrap();
            for import in &stack.imports {
                assert!(
                    template.contains(&format!("Fn::ImportValue: {import}")),
                    "{import}"
                );
            }
            assert_eq!(
                template.matches("Fn::ImportValue:").count() > 0,
                !stack.imports.is_empty(),
                "{}",
                stack.file
            );
            for p in &stack.parameters {
                assert!(template.contains(&format!("\n  {p}:\n")), "{p}");
            }
        }
        seen += 1;
    }
    assert_eq!(seen, 4, "four environments are committed");
}

#[test]
fn synth_is_byte_identical_across_runs() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    for dir in [&a, &b] {
        let specs = specs();
        let mut args = vec!["synth", "--out", dir.path().to_str().unwrap()];
        args.extend(specs.iter().map(String::as_str));
        let out = dxops(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let files = walk(a.path());
    assert!(
        files.len() >= 41,
        "expected every file of four environments, got {}",
        files.len()
    );
    for rel in files {
        let x = std::fs::read(a.path().join(&rel)).unwrap();
        let y = std::fs::read(b.path().join(&rel)).unwrap();
        assert_eq!(x, y, "{} differs between runs", rel.display());
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn committed_stacks_are_fresh() {
    let specs = specs();
    let mut args = vec!["synth", "--check"];
    args.extend(specs.iter().map(String::as_str));
    let out = dxops(&args);
    assert!(
        out.status.success(),
        "stacks/ is stale:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn check_prints_a_diff_and_a_hint_when_stale() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().to_str().unwrap();
    assert!(
        dxops(&["synth", "specs/minimal.yaml", "--out", out_dir])
            .status
            .success()
    );
    let target = dir.path().join("heart-disease/prod/serving.yaml");
    let edited = std::fs::read_to_string(&target).unwrap().replace(
        "EnableNetworkIsolation: true",
        "EnableNetworkIsolation: false",
    );
    std::fs::write(&target, edited).unwrap();

    let out = dxops(&["synth", "--check", "specs/minimal.yaml", "--out", out_dir]);
    assert_eq!(out.status.code(), Some(1));
    let diff = String::from_utf8_lossy(&out.stdout);
    assert!(
        diff.contains("-      EnableNetworkIsolation: false"),
        "{diff}"
    );
    assert!(
        diff.contains("+      EnableNetworkIsolation: true"),
        "{diff}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("hint: run `dxops synth"));
}

#[test]
fn committed_schema_equals_the_derived_one() {
    let out = dxops(&["schema"]);
    assert!(out.status.success());
    let committed = std::fs::read_to_string(root().join("schema/dxops.schema.json")).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        committed,
        "run `dxops schema > schema/dxops.schema.json`"
    );
    let schema: serde_json::Value = serde_json::from_str(&committed).unwrap();
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
}

#[test]
fn a_template_that_emits_broken_yaml_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("serving.yaml.tera"),
        "Resources:\n  Broken: [unclosed\n",
    )
    .unwrap();
    let out = dxops(&[
        "synth",
        "specs/minimal.yaml",
        "--templates",
        dir.path().to_str().unwrap(),
        "--out",
        dir.path().join("out").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("serving.yaml.tera produced malformed YAML"),
        "{stderr}"
    );
    assert!(
        !dir.path()
            .join("out/heart-disease/prod/serving.yaml")
            .exists()
    );
}

#[test]
fn a_template_override_changes_only_its_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("quality.dqdl.tera"),
        "# custom\n{{ dqdl_ruleset }}\n",
    )
    .unwrap();
    let out_dir = dir.path().join("out");
    let out = dxops(&[
        "synth",
        "specs/minimal.yaml",
        "--templates",
        dir.path().to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dqdl = std::fs::read_to_string(out_dir.join("heart-disease/prod/quality.dqdl")).unwrap();
    assert!(dqdl.starts_with("# custom\nRules = ["), "{dqdl}");
    let committed =
        std::fs::read_to_string(root().join("stacks/heart-disease/prod/data.yaml")).unwrap();
    assert_eq!(
        std::fs::read_to_string(out_dir.join("heart-disease/prod/data.yaml")).unwrap(),
        committed
    );
}

#[test]
fn manifest_hashes_every_file_and_the_spec() {
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("stacks/heart-disease/prod/manifest.json")).unwrap(),
    )
    .unwrap();
    for (file, hash) in manifest["files"].as_object().unwrap() {
        let bytes = std::fs::read(root().join("stacks/heart-disease/prod").join(file)).unwrap();
        use sha2::Digest;
        assert_eq!(
            hash.as_str().unwrap(),
            hex::encode(sha2::Sha256::digest(&bytes)),
            "{file}"
        );
    }
    let spec = std::fs::read(root().join("specs/minimal.yaml")).unwrap();
    use sha2::Digest;
    assert_eq!(
        manifest["spec"]["sha256"].as_str().unwrap(),
        hex::encode(sha2::Sha256::digest(&spec))
    );
}

#[test]
fn files_no_longer_rendered_are_stale_and_removed_by_synth() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().to_str().unwrap();
    assert!(
        dxops(&["synth", "specs/minimal.yaml", "--out", out_dir])
            .status
            .success()
    );
    let dropped = dir.path().join("heart-disease/staging/data.yaml");
    std::fs::create_dir_all(dropped.parent().unwrap()).unwrap();
    std::fs::write(&dropped, "Resources: {}\n").unwrap();

    let check = dxops(&["synth", "--check", "specs/minimal.yaml", "--out", out_dir]);
    assert_eq!(check.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&check.stdout).contains("+++ /dev/null"));

    assert!(
        dxops(&["synth", "specs/minimal.yaml", "--out", out_dir])
            .status
            .success()
    );
    assert!(!dropped.exists());
    assert!(
        dxops(&["synth", "--check", "specs/minimal.yaml", "--out", out_dir])
            .status
            .success()
    );
}

#[test]
fn the_example_spec_trains_with_the_image_defaults() {
    // `dxops-model cv` without --hyperparameters must train exactly what the
    // rendered training step of specs/disease-prediction.yaml trains
    // (label and feature list aside, which come from the data, and the
    // recall floor, which comes from the gates).
    let pipeline: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("stacks/disease-prediction/prod/pipeline.json"))
            .unwrap(),
    )
    .unwrap();
    let train = pipeline["Steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Type"] == "Training")
        .unwrap();
    let rendered = train["Arguments"]["HyperParameters"].as_object().unwrap();
    let defaults = dxops_contract::hyperparameters::Hyperparameters::default().to_strings();
    assert_eq!(
        rendered.len(),
        defaults.len(),
        "every hyperparameter is rendered"
    );
    for (key, value) in defaults {
        // The recall floor comes from the spec's gates, not from the image.
        if key == "label" || key == "features" || key == "min_class_recall" {
            continue;
        }
        assert_eq!(
            rendered[&key].as_str(),
            Some(value.as_str()),
            "hyperparameter `{key}`"
        );
    }
    assert_eq!(rendered["label"], "diagnosis");
}

#[test]
fn the_serving_stack_configures_the_server_it_deploys() {
    use dxops_ml::drift::{ENV_METHOD, ENV_THRESHOLD};
    use dxops_ml::serve::metrics::{DEFAULT_NAMESPACE, ENV_ENDPOINT, ENV_NAMESPACE};
    let text = std::fs::read_to_string(root().join("stacks/disease-prediction/prod/serving.yaml"))
        .unwrap();
    let template = dxops_spec::yaml::parse(&text).unwrap().value;
    let env = template["Resources"]["Model"]["Properties"]["PrimaryContainer"]["Environment"]
        .as_object()
        .unwrap();
    for key in env.keys() {
        assert!(
            [ENV_METHOD, ENV_THRESHOLD, ENV_NAMESPACE, ENV_ENDPOINT].contains(&key.as_str()),
            "the server reads no `{key}`"
        );
    }
    assert_eq!(env[ENV_METHOD], "psi");
    assert_eq!(env[ENV_THRESHOLD], "0.1");
    assert_eq!(env[ENV_NAMESPACE], DEFAULT_NAMESPACE);
    let drift = &template["Resources"]["DriftAlarm"]["Properties"];
    assert_eq!(drift["Namespace"], DEFAULT_NAMESPACE);
    assert_eq!(drift["MetricName"], "DriftShare");
    assert_eq!(drift["Dimensions"][0]["Name"], "Endpoint");
    assert_eq!(drift["Dimensions"][0]["Value"], env[ENV_ENDPOINT]);
}

#[test]
fn synth_never_writes_or_deletes_through_a_link_out_of_the_output_folder() {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("keep.txt"), "not dxops's").unwrap();
    let out = dir.path().join("stacks");
    std::fs::create_dir_all(&out).unwrap();
    std::os::unix::fs::symlink(&outside, out.join("heart-disease")).unwrap();
    for args in [
        vec![
            "synth",
            "specs/minimal.yaml",
            "--out",
            out.to_str().unwrap(),
        ],
        vec![
            "synth",
            "--check",
            "specs/minimal.yaml",
            "--out",
            out.to_str().unwrap(),
        ],
    ] {
        let o = dxops(&args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(stderr.contains("is a symbolic link"), "{stderr}");
    }
    assert!(
        outside.join("keep.txt").is_file(),
        "a file outside --out was deleted"
    );
    assert_eq!(
        std::fs::read_dir(&outside).unwrap().count(),
        1,
        "synth wrote outside --out"
    );
}

/// `training.transfer.from` reaches the rendered pipeline: the retraining
/// state machine looks up the group's newest approved package (or writes
/// the no-source marker) and passes its model data as `WarmStartModelUri`,
/// which the training step mounts as its `warm_start` channel; the roles may
/// do exactly that.
#[test]
fn the_transfer_source_reaches_the_training_step_through_the_state_machine() {
    use dxops_contract::layout::paths;
    let dir = root().join("stacks/disease-prediction/staging");
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
    let asl: serde_json::Value = serde_json::from_str(&read("retrain.asl.json")).unwrap();
    let pipeline: serde_json::Value = serde_json::from_str(&read("pipeline.json")).unwrap();
    let ml = dxops_spec::yaml::parse(&read("ml.yaml")).unwrap().value;
    let states = &asl["States"];

    // After the data-quality check passes.
    assert_eq!(
        states["DataQualityPassed"]["Choices"][0]["Next"],
        "WriteNoSourceMarker"
    );
    let marker = &states["WriteNoSourceMarker"];
    assert_eq!(marker["Resource"], "arn:aws:states:::aws-sdk:s3:putObject");
    assert_eq!(marker["Parameters"]["Bucket"], "${ArtifactsBucket}");
    assert_eq!(marker["Parameters"]["Key"], paths::NO_SOURCE_MARKER_KEY);
    assert!(paths::NO_SOURCE_MARKER_KEY.ends_with(&format!("/{}", paths::NO_SOURCE_MARKER)));
    assert_eq!(marker["Next"], "FindSourceModel");

    let find = &states["FindSourceModel"];
    assert_eq!(
        find["Resource"],
        "arn:aws:states:::aws-sdk:sagemaker:listModelPackages"
    );
    let p = &find["Parameters"];
    assert_eq!(p["ModelPackageGroupName"], "disease-prediction-prod");
    assert_eq!(p["ModelApprovalStatus"], "Approved");
    assert_eq!(p["SortBy"], "CreationTime");
    assert_eq!(p["SortOrder"], "Descending");
    assert_eq!(p["MaxResults"], 1);
    assert_eq!(find["Next"], "HasSourceModel");
    let choice = &states["HasSourceModel"];
    assert_eq!(choice["Choices"][0]["Next"], "DescribeSourceModel");
    assert_eq!(choice["Default"], "NoSourceModel");
    let describe = &states["DescribeSourceModel"];
    assert_eq!(
        describe["ResultSelector"]["uri.$"],
        "$.InferenceSpecification.Containers[0].ModelDataUrl"
    );
    let none = &states["NoSourceModel"];
    let marker_uri = format!("s3://${{ArtifactsBucket}}/{}", paths::NO_SOURCE_MARKER_KEY);
    assert_eq!(none["Result"]["uri"], marker_uri.as_str());
    for s in [describe, none] {
        assert_eq!(s["ResultPath"], "$.warmStart");
        assert_eq!(s["Next"], "StartPipeline");
    }
    let parameters = asl["States"]["StartPipeline"]["Parameters"]["PipelineParameters"]
        .as_array()
        .unwrap();
    assert_eq!(parameters.len(), 1);
    assert_eq!(parameters[0]["Name"], "WarmStartModelUri");
    assert_eq!(parameters[0]["Value.$"], "$.warmStart.uri");

    // The pipeline declares the parameter, defaulting to the same marker, and
    // the training step mounts it as the channel the image reads.
    let declared = pipeline["Parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["Name"] == "WarmStartModelUri")
        .unwrap();
    assert_eq!(
        declared["DefaultValue"],
        format!(
            "s3://disease-prediction-staging-artifacts-${{AWS::AccountId}}/{}",
            paths::NO_SOURCE_MARKER_KEY
        )
        .as_str()
    );
    let train = pipeline["Steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Name"] == "Train")
        .unwrap();
    let channel = train["Arguments"]["InputDataConfig"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["ChannelName"] == paths::WARM_START_CHANNEL)
        .unwrap();
    assert_eq!(
        channel["DataSource"]["S3DataSource"]["S3Uri"]["Get"],
        "Parameters.WarmStartModelUri"
    );

    // The substitution the state machine's bucket comes from is this
    // environment's artifacts bucket, the pipeline default's bucket.
    let machine = &ml["Resources"]["RetrainStateMachine"]["Properties"];
    assert_eq!(
        machine["DefinitionSubstitutions"]["ArtifactsBucket"]["Fn::ImportValue"],
        "disease-prediction-staging-data-ArtifactsBucketName"
    );
    // Inline role policies are lowered to managed policies `<Role><Name>Policy`.
    let statements = |policy: &str| {
        ml["Resources"][policy]["Properties"]["PolicyDocument"]["Statement"]
            .as_array()
            .unwrap()
            .clone()
    };
    let sid = |policy: &str, sid: &str| {
        statements(policy)
            .into_iter()
            .find(|s| s["Sid"] == sid)
            .unwrap_or_else(|| panic!("{policy} has no statement {sid}"))
    };
    let put = sid("RetrainRoleRetrainPolicy", "WriteNoSourceMarker");
    assert_eq!(put["Action"], "s3:PutObject");
    assert_eq!(
        put["Resource"]["Fn::Sub"][0],
        format!("${{Bucket}}/{}", paths::NO_SOURCE_MARKER_KEY).as_str()
    );
    let describe = sid("RetrainRoleRetrainPolicy", "FindWarmStartModel");
    assert!(
        describe["Resource"]["Fn::Sub"]
            .as_str()
            .unwrap()
            .ends_with(":model-package/disease-prediction-prod/*")
    );
    let account_wide = sid("RetrainRoleRetrainPolicy", "AccountWideOnlyActions");
    assert!(
        account_wide["Action"]
            .as_array()
            .unwrap()
            .contains(&"sagemaker:ListModelPackages".into())
    );
    let source = sid("TrainingRoleJobPolicy", "ReadWarmStartSource");
    assert!(
        source["Resource"][1]["Fn::Sub"]
            .as_str()
            .unwrap()
            .contains(":::disease-prediction-prod-artifacts-${AWS::AccountId}/runs/*")
    );
    let reads = sid("TrainingRoleJobPolicy", "ReadInputs");
    assert!(
        reads["Resource"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["Fn::Sub"][0] == "${Bucket}/transfer/*")
    );

    // A spec without a transfer source renders none of it.
    let minimal = root().join("stacks/heart-disease/prod");
    let asl = std::fs::read_to_string(minimal.join("retrain.asl.json")).unwrap();
    let pipeline = std::fs::read_to_string(minimal.join("pipeline.json")).unwrap();
    assert!(!asl.contains("WarmStart") && !asl.contains("listModelPackages"));
    assert!(!pipeline.contains("WarmStartModelUri") && !pipeline.contains("\"warm_start\""));
}

/// A sharded ETL: the Etl step spreads the ingested objects over the
/// spec's instances, at the paths `dxops-model etl` reads and writes, and
/// the Process step reads its curated parts and reports where
/// `dxops-model process` looks for them. A spec with one instance renders
/// no Etl step and Process reads the ingested records itself.
#[test]
fn the_sharded_etl_step_hands_process_its_parts_at_the_container_paths() {
    use dxops_contract::layout::{Layout, PROCESSING_ROOT, paths};
    let read = |dir: &str| -> serde_json::Value {
        let text = std::fs::read_to_string(root().join(dir).join("pipeline.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    };
    let step = |p: &serde_json::Value, name: &str| {
        p["Steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Name"] == name)
            .cloned()
    };
    let input = |step: &serde_json::Value, name: &str| {
        step["Arguments"]["ProcessingInputs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["InputName"] == name)
            .map(|i| i["S3Input"].clone())
    };
    let layout = Layout::new(PROCESSING_ROOT);
    let local = |p: std::path::PathBuf| p.display().to_string();

    let pipeline = read("stacks/disease-prediction/prod");
    let names: Vec<&str> = pipeline["Steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["Name"].as_str().unwrap())
        .collect();
    assert_eq!(&names[..2], ["Etl", "Process"]);
    let etl = step(&pipeline, "Etl").unwrap();
    let args = &etl["Arguments"];
    assert_eq!(
        args["ProcessingResources"]["ClusterConfig"]["InstanceCount"],
        2
    );
    assert_eq!(
        args["AppSpecification"]["ContainerEntrypoint"],
        serde_json::json!(["dxops-model", "etl"])
    );
    let raw = input(&etl, "raw").unwrap();
    assert_eq!(raw["S3DataDistributionType"], "ShardedByS3Key");
    assert_eq!(raw["S3Uri"]["Get"], "Parameters.InputDataUri");
    assert_eq!(raw["LocalPath"], local(layout.raw_input()));
    let output = |name: &str| {
        args["ProcessingOutputConfig"]["Outputs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["OutputName"] == name)
            .unwrap()["S3Output"]["LocalPath"]
            .clone()
    };
    assert_eq!(
        output("curated"),
        local(
            layout
                .curated_part("algo-1")
                .parent()
                .unwrap()
                .to_path_buf()
        )
    );
    assert_eq!(
        output("etl"),
        local(layout.etl_report("algo-1").parent().unwrap().to_path_buf())
    );
    let process = step(&pipeline, "Process").unwrap();
    let raw = input(&process, "raw").unwrap();
    assert_eq!(
        raw["S3Uri"]["Get"],
        "Steps.Etl.ProcessingOutputConfig.Outputs['curated'].S3Output.S3Uri"
    );
    assert_eq!(raw["S3DataDistributionType"], "FullyReplicated");
    let reports = input(&process, "etl").unwrap();
    assert_eq!(
        reports["S3Uri"]["Get"],
        "Steps.Etl.ProcessingOutputConfig.Outputs['etl'].S3Output.S3Uri"
    );
    assert_eq!(reports["LocalPath"], local(layout.etl_report_input()));
    assert_eq!(
        reports["LocalPath"],
        format!("{PROCESSING_ROOT}/{}", paths::ETL_REPORT_INPUT)
    );

    let single = read("stacks/heart-disease/prod");
    assert!(step(&single, "Etl").is_none());
    let process = step(&single, "Process").unwrap();
    assert_eq!(
        input(&process, "raw").unwrap()["S3Uri"]["Get"],
        "Parameters.InputDataUri"
    );
    assert!(input(&process, "etl").is_none());
}

/// The scheduled ground-truth join: a daily rule starts a state machine
/// whose processing job runs `dxops-model monitor --ground-truth` over the
/// endpoint's capture prefix and the ground-truth prefix, and whose last
/// task publishes the report's figures as the metric the quality alarm
/// watches.
#[test]
fn the_live_quality_schedule_joins_ground_truth_and_feeds_the_quality_alarm() {
    use dxops_contract::layout::paths;
    use dxops_ml::monitor::ground_truth::{GroundTruthReport, LiveQuality};
    let dir = root().join("stacks/disease-prediction/prod");
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
    let serving = dxops_spec::yaml::parse(&read("serving.yaml"))
        .unwrap()
        .value;
    let asl: serde_json::Value = serde_json::from_str(&read("live-quality.asl.json")).unwrap();
    let resources = &serving["Resources"];

    let rule = &resources["LiveQualitySchedule"]["Properties"];
    assert_eq!(rule["ScheduleExpression"], "rate(1 day)");
    assert_eq!(rule["Targets"][0]["Arn"]["Ref"], "LiveQualityStateMachine");
    let alarm = &resources["QualityAlarm"]["Properties"];
    assert_eq!(alarm["Period"], 86400);

    let states = &asl["States"];
    let job = &states["StartJoin"]["Parameters"];
    assert_eq!(
        states["StartJoin"]["Resource"],
        "arn:aws:states:::aws-sdk:sagemaker:createProcessingJob"
    );
    let entry: Vec<&str> = job["AppSpecification"]["ContainerEntrypoint"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let arg = |flag: &str| entry[entry.iter().position(|a| *a == flag).unwrap() + 1];
    assert_eq!(&entry[..1], ["dxops-model"]);
    assert!(entry.contains(&"monitor"));
    let proc = "/opt/ml/processing/";
    assert_eq!(arg("--capture"), format!("{proc}{}", paths::CAPTURE_INPUT));
    assert_eq!(
        arg("--ground-truth"),
        format!("{proc}{}", paths::GROUND_TRUTH_INPUT)
    );
    assert_eq!(arg("--model"), format!("{proc}{}", paths::MODEL));
    let input = |name: &str| {
        job["ProcessingInputs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["InputName"] == name)
            .unwrap()["S3Input"]
            .clone()
    };
    assert_eq!(input("capture")["LocalPath"], arg("--capture"));
    assert_eq!(input("ground-truth")["LocalPath"], arg("--ground-truth"));
    assert_eq!(input("model")["LocalPath"], arg("--model"));
    // The capture prefix is where the endpoint config writes capture.
    let capture_uri = &resources["EndpointConfig"]["Properties"]["DataCaptureConfig"]["DestinationS3Uri"]
        ["Fn::Sub"][0];
    assert_eq!(capture_uri, "s3://${Bucket}/capture");
    assert_eq!(
        input("capture")["S3Uri"],
        "s3://${ArtifactsBucket}/capture/disease-prediction-prod/"
    );
    assert_eq!(input("model")["S3Uri"], "${ModelDataUrl}");
    // The report the job writes is the object the state machine reads.
    let out = arg("--out");
    let output = &job["ProcessingOutputConfig"]["Outputs"][0]["S3Output"];
    let local = output["LocalPath"].as_str().unwrap();
    assert_eq!(out, format!("{local}/{}", paths::LIVE_QUALITY_FILE));
    assert_eq!(
        out,
        format!(
            "{proc}{}/{}",
            paths::LIVE_QUALITY_OUTPUT,
            paths::LIVE_QUALITY_FILE
        )
    );
    assert!(
        states["ReadReport"]["Parameters"]["Key.$"]
            .as_str()
            .unwrap()
            .contains(&format!("{{}}/{}", paths::LIVE_QUALITY_FILE))
    );

    // What is published is what the alarm watches, read from fields the
    // report really has.
    let publish = &states["PublishLiveQuality"]["Parameters"];
    assert_eq!(publish["Namespace"], alarm["Namespace"]);
    let report = serde_json::to_value(GroundTruthReport {
        live: Some(LiveQuality {
            macro_f1: 0.5,
            worst_class_recall: 0.25,
            labelled_rows: 4,
        }),
        ..Default::default()
    })
    .unwrap();
    let data = publish["MetricData"].as_array().unwrap();
    let macro_f1 = data
        .iter()
        .find(|m| m["MetricName"] == alarm["MetricName"])
        .unwrap();
    assert_eq!(macro_f1["Dimensions"], alarm["Dimensions"]);
    for m in data {
        let path = m["Value.$"].as_str().unwrap();
        let field = path.strip_prefix("$.result.report.").unwrap();
        let value = field.split('.').fold(&report, |v, k| &v[k]);
        assert!(value.is_number(), "{path} is not a number of the report");
    }
    assert_eq!(
        data.iter()
            .map(|m| m["MetricName"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["LiveMacroF1", "LiveWorstClassRecall", "LiveLabelledRows"]
    );

    // Without a quality floor (or capture) nothing of it is rendered.
    let minimal = root().join("stacks/heart-disease/prod");
    assert!(!minimal.join("live-quality.asl.json").exists());
    assert!(
        !std::fs::read_to_string(minimal.join("serving.yaml"))
            .unwrap()
            .contains("LiveQuality")
    );
}

/// The spec's quality rules judge the ingested records on AWS before any
/// training: a Glue table over what ingest writes, the ruleset targeting it,
/// a state machine that runs it, and the retraining state machine that
/// starts the pipeline only when every rule passed.
#[test]
fn the_quality_rules_gate_retraining_through_glue_data_quality() {
    let dir = root().join("stacks/disease-prediction/prod");
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
    let ingest = dxops_spec::yaml::parse(&read("ingest.yaml")).unwrap().value;
    let ml = dxops_spec::yaml::parse(&read("ml.yaml")).unwrap().value;
    let check: serde_json::Value = serde_json::from_str(&read("quality-check.asl.json")).unwrap();
    let retrain: serde_json::Value = serde_json::from_str(&read("retrain.asl.json")).unwrap();
    let contract: serde_json::Value = serde_json::from_str(&read("process.json")).unwrap();
    let r = &ingest["Resources"];

    // The table reads what ingest writes, with the data contract's columns.
    let table = &r["RecordsTable"]["Properties"]["TableInput"];
    let location = &table["StorageDescriptor"]["Location"]["Fn::Sub"];
    assert_eq!(location[0], "s3://${Bucket}/incoming/");
    assert_eq!(
        location[1]["Bucket"]["Fn::ImportValue"],
        "disease-prediction-prod-data-RawBucketName"
    );
    let columns: Vec<&str> = table["StorageDescriptor"]["Columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["Name"].as_str().unwrap())
        .collect();
    assert!(columns.contains(&contract["label"].as_str().unwrap()));
    for f in contract["features"].as_array().unwrap() {
        assert!(columns.contains(&f["name"].as_str().unwrap()), "{f}");
    }
    let ingest_text = read("ingest.yaml");
    assert!(ingest_text.contains(r#"Key: "incoming/iot/${topic()}/"#));

    // The ruleset is quality.dqdl, aimed at that table.
    let ruleset = &r["QualityRuleset"]["Properties"];
    let dqdl = read("quality.dqdl");
    let rules: Vec<&str> = dqdl.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(
        ruleset["Ruleset"].as_str().unwrap().trim(),
        rules.join("\n").trim()
    );
    assert_eq!(
        ruleset["TargetTable"]["DatabaseName"]["Ref"],
        "RecordsDatabase"
    );
    assert_eq!(ruleset["TargetTable"]["TableName"]["Ref"], "RecordsTable");
    assert!(ml["Resources"]["QualityRuleset"].is_null());

    // The quality check evaluates exactly that ruleset on that table.
    let start = &check["States"]["StartQualityRun"];
    assert_eq!(
        start["Resource"],
        "arn:aws:states:::aws-sdk:glue:startDataQualityRulesetEvaluationRun"
    );
    let p = &start["Parameters"];
    assert_eq!(
        p["DataSource"]["GlueTable"]["DatabaseName"],
        r["RecordsDatabase"]["Properties"]["DatabaseInput"]["Name"]
    );
    assert_eq!(p["DataSource"]["GlueTable"]["TableName"], table["Name"]);
    assert_eq!(p["RulesetNames"][0], ruleset["Name"]);
    assert_eq!(p["Role"], "${DataQualityRoleArn}");
    let machine = &r["QualityCheckStateMachine"]["Properties"];
    assert_eq!(
        machine["DefinitionSubstitutions"]["DataQualityRoleArn"]["Fn::GetAtt"][0],
        "DataQualityRole"
    );
    let parsed: serde_json::Value =
        serde_json::from_str(machine["DefinitionString"].as_str().unwrap()).unwrap();
    assert_eq!(parsed, check, "the stack embeds quality-check.asl.json");
    // Its verdict: passed, and the names (never values) of rules that did not.
    let states = &check["States"];
    assert_eq!(
        states["GetQualityResult"]["ResultSelector"]["failed.$"],
        "$.RuleResults[?(@.Result == 'FAIL')].Name"
    );
    assert_eq!(states["RulesPassed"]["Parameters"]["passed"], true);
    assert_eq!(states["RulesFailed"]["Parameters"]["passed"], false);
    assert_eq!(states["QualityRunOutcome"]["Default"], "WaitForQualityRun");

    // Retraining starts with it and goes on only when every rule passed.
    let states = &retrain["States"];
    assert_eq!(retrain["StartAt"], "CheckDataQuality");
    let run = &states["CheckDataQuality"];
    assert_eq!(
        run["Resource"],
        "arn:aws:states:::states:startExecution.sync:2"
    );
    assert_eq!(run["Parameters"]["StateMachineArn"], "${QualityCheckArn}");
    assert_eq!(run["ResultSelector"]["passed.$"], "$.Output.passed");
    let choice = &states["DataQualityPassed"];
    assert_eq!(choice["Choices"][0]["Variable"], "$.quality.passed");
    assert_eq!(choice["Choices"][0]["BooleanEquals"], true);
    assert_eq!(choice["Default"], "NotifyQualityFailure");
    let notify = &states["NotifyQualityFailure"];
    assert_eq!(notify["Parameters"]["TopicArn"], "${TopicArn}");
    assert!(
        notify["Parameters"]["Message.$"]
            .as_str()
            .unwrap()
            .contains("States.JsonToString($.quality.failed)")
    );
    assert_eq!(notify["Next"], "DataQualityFailed");
    assert_eq!(states["DataQualityFailed"]["Type"], "Fail");
    let export = &ingest["Outputs"]["QualityCheckArn"]["Export"]["Name"];
    assert_eq!(
        ml["Resources"]["RetrainStateMachine"]["Properties"]["DefinitionSubstitutions"]["QualityCheckArn"]
            ["Fn::ImportValue"],
        *export
    );
}

#[test]
fn an_approval_reaches_the_endpoint_through_the_promotion_loop() {
    let dir = root().join("stacks/disease-prediction/prod");
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
    let serving = dxops_spec::yaml::parse(&read("serving.yaml"))
        .unwrap()
        .value;
    let resources = &serving["Resources"];

    // The approval event of this environment's group, and no other, starts it.
    let rule = &resources["PromoteOnApproval"]["Properties"];
    let pattern = &rule["EventPattern"];
    assert_eq!(pattern["source"], serde_json::json!(["aws.sagemaker"]));
    assert_eq!(
        pattern["detail-type"],
        serde_json::json!(["SageMaker Model Package State Change"])
    );
    assert_eq!(
        pattern["detail"]["ModelPackageGroupName"],
        serde_json::json!(["disease-prediction-prod"])
    );
    assert_eq!(
        pattern["detail"]["ModelApprovalStatus"],
        serde_json::json!(["Approved"])
    );
    assert_eq!(rule["Targets"][0]["Arn"]["Ref"], "PromoteStateMachine");

    // It updates this very stack with the package's model data, keeping the
    // image and the reviewed template, through the bootstrap's deploy role:
    // the Endpoint's blue/green policy and alarms do the rollout.
    let machine = &resources["PromoteStateMachine"]["Properties"];
    assert_eq!(
        machine["DefinitionSubstitutions"]["ServingStack"]["Ref"],
        "AWS::StackName"
    );
    let asl: serde_json::Value = serde_json::from_str(&read("promote.asl.json")).unwrap();
    let embedded: serde_json::Value =
        serde_json::from_str(machine["DefinitionString"].as_str().unwrap()).unwrap();
    assert_eq!(embedded, asl, "the stack embeds the reviewed definition");
    let update = &asl["States"]["UpdateServing"];
    assert_eq!(
        update["Resource"],
        "arn:aws:states:::aws-sdk:cloudformation:updateStack"
    );
    let params = &update["Parameters"];
    assert_eq!(params["UsePreviousTemplate"], true);
    let by_key = |k: &str| {
        params["Parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["ParameterKey"] == k)
            .unwrap()
            .clone()
    };
    assert_eq!(by_key("ImageUri")["UsePreviousValue"], true);
    assert_eq!(
        by_key("ModelDataUrl")["ParameterValue.$"],
        "$.package.modelDataUrl"
    );
    // Every parameter the serving stack takes is given, so the update cannot
    // fail for a missing one.
    let taken: Vec<&String> = serving["Parameters"].as_object().unwrap().keys().collect();
    assert_eq!(taken.len(), params["Parameters"].as_array().unwrap().len());
    let endpoint = &resources["Endpoint"]["Properties"]["DeploymentConfig"];
    assert_eq!(
        endpoint["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["Type"],
        "CANARY"
    );
    // A rejected-since package is not deployed.
    assert_eq!(
        asl["States"]["StillApproved"]["Choices"][0]["StringEquals"],
        "Approved"
    );
    // The role may update this stack only, and pass only the deploy role.
    let policy = serde_json::to_string(&resources).unwrap();
    assert!(policy.contains("role/disease-prediction-prod-deploy"));
}

#[test]
fn deploy_never_renders_no_promotion() {
    let spec = std::fs::read_to_string(root().join("specs/disease-prediction.yaml")).unwrap();
    let edited = spec.replace("  deploy: after_approval", "  deploy: never");
    assert_ne!(spec, edited, "the example spec names its deploy policy");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("disease-prediction.yaml");
    std::fs::write(&path, edited).unwrap();
    let out_dir = dir.path().join("stacks");
    let out = dxops(&[
        "synth",
        path.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let prod = out_dir.join("disease-prediction/prod");
    assert!(!prod.join("promote.asl.json").exists());
    let serving = std::fs::read_to_string(prod.join("serving.yaml")).unwrap();
    assert!(
        !serving.contains("PromoteOnApproval"),
        "no rule when deploys are left to a person"
    );
    assert!(serving.contains("  Endpoint:"));
}

/// `serving.target: lambda` and `serving.lambda` reach the function, its
/// alias and CodeDeploy; the pipeline packages the function and the
/// promotion deploys that package; the spec's conflicts are refused.
#[test]
fn a_lambda_spec_renders_its_function_rollout_and_package_chain() {
    let dir = tempfile::tempdir().unwrap();
    let base = std::fs::read_to_string(root().join("specs/lambda-serving.yaml")).unwrap();
    let old = "  lambda: { memory_mb: 1024, reserved_concurrency: 50, provisioned_concurrency: 2 }\n  rollout: { strategy: canary, canary_percent: 10, bake_minutes: 10 }\n";
    assert!(base.contains(old), "the example spec changed");
    let spec = base.replace(
        old,
        "  lambda: { memory_mb: 2048, timeout_seconds: 45, reserved_concurrency: 7, provisioned_concurrency: 3 }\n  rollout: { strategy: linear, linear_step_percent: 20, bake_minutes: 4 }\n",
    );
    let spec_path = dir.path().join("lambda.yaml");
    std::fs::write(&spec_path, &spec).unwrap();
    let out_dir = dir.path().join("out");
    let out = dxops(&[
        "synth",
        spec_path.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read = |f: &str| std::fs::read_to_string(out_dir.join("chd-risk/prod").join(f)).unwrap();
    let serving = dxops_spec::yaml::parse(&read("serving.yaml"))
        .unwrap()
        .value;
    let r = &serving["Resources"];
    let f = &r["Function"]["Properties"];
    assert_eq!(f["MemorySize"], 2048);
    assert_eq!(f["Timeout"], 45);
    assert_eq!(f["ReservedConcurrentExecutions"], 7);
    assert_eq!(f["Code"]["S3Key"]["Ref"], "FunctionCodeKey");
    assert_eq!(
        r["FunctionAlias"]["Properties"]["ProvisionedConcurrencyConfig"]["ProvisionedConcurrentExecutions"],
        3
    );
    let routing = &r["DeployConfig"]["Properties"]["TrafficRoutingConfig"];
    assert_eq!(routing["Type"], "TimeBasedLinear");
    assert_eq!(routing["TimeBasedLinear"]["LinearPercentage"], 20);
    assert_eq!(routing["TimeBasedLinear"]["LinearInterval"], 4);
    assert!(
        r.get("Endpoint").is_none(),
        "a Lambda spec renders no endpoint"
    );
    assert!(
        r["PredictPost"]["Properties"]["Integration"]["Uri"]["Fn::Sub"]
            .as_str()
            .unwrap()
            .contains("${FunctionAlias}")
    );

    // The evaluation step packages, the package is recorded, the promotion deploys it.
    let pipeline: serde_json::Value = serde_json::from_str(&read("pipeline.json")).unwrap();
    let steps = pipeline["Steps"].as_array().unwrap();
    let evaluate = steps.iter().find(|s| s["Name"] == "Evaluate").unwrap();
    assert_eq!(
        evaluate["Arguments"]["Environment"]["DXOPS_LAMBDA_PACKAGE"],
        "1"
    );
    let text = read("pipeline.json");
    assert!(
        text.contains("\"LambdaPackageKey\""),
        "the package is not recorded"
    );
    assert!(text.contains("\"lambda.zip\""));
    let promote = read("promote.asl.json");
    assert!(promote.contains("$.CustomerMetadataProperties.LambdaPackageKey"));
    assert!(promote.contains("\"ParameterKey\": \"FunctionCodeKey\""));
    assert!(!promote.contains("ModelDataUrl"));

    // What Lambda cannot do is refused.
    for (bad, key) in [
        (
            spec.replace(
                "data_capture: { percent: 0 }",
                "data_capture: { percent: 50 }",
            ),
            "Lambda serving has no data capture",
        ),
        (
            spec.replace("provisioned_concurrency: 3", "provisioned_concurrency: 9"),
            "more provisioned environments than the function may ever run",
        ),
    ] {
        std::fs::write(&spec_path, bad).unwrap();
        let out = dxops(&["validate", "--format", "json", spec_path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1));
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains(key), "{key}: {text}");
    }
}
