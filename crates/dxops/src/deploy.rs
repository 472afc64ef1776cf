//! `dxops diff`, `deploy`, `destroy` and `status`: arguments, prompts and
//! printing. The AWS work is `dxops_aws`; this module only decides what to
//! show and which exit code to give (0 ok / no changes, 1 error, 2 changes
//! or drift).

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use dxops_aws::diff::{Action, Replacement, StackDiff};
use dxops_aws::sagemaker::Verdict;
use dxops_aws::{Aws, Event, Progress, RenderedEnvironment};
use dxops_spec::render::{self, Renderer};

const EXIT_CHANGES: u8 = 2;

/// `Key=Value`, for `--parameter`.
#[derive(Clone, Debug)]
pub struct KeyValue(String, String);

impl std::str::FromStr for KeyValue {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok(KeyValue(k.into(), v.into())),
            _ => Err(format!("expected Key=Value, got `{s}`")),
        }
    }
}

/// An image reference pinned by digest (`host/repository@sha256:<64 hex>`),
/// as `dxops image push` prints it, for `deploy --image-uri`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRef(String);

impl std::str::FromStr for ImageRef {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let pinned = s.split_once('@').is_some_and(|(name, digest)| {
            name.contains('/')
                && !name.starts_with('/')
                && digest.strip_prefix("sha256:").is_some_and(|h| {
                    h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
                })
        });
        if pinned {
            Ok(ImageRef(s.to_string()))
        } else {
            Err(format!(
                "expected host/repository@sha256:<64 hex digits> (what `dxops image push` prints), got `{s}`"
            ))
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum OutFormat {
    #[default]
    Human,
    Json,
}

/// `--require-approval`: when `deploy` asks before executing a change set.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Approval {
    /// Never ask.
    Never,
    /// Ask when a change widens access or weakens protection (the security section marks them).
    #[default]
    Broadening,
    /// Ask before every change set.
    AnyChange,
}

#[derive(Args)]
pub struct Target {
    /// The spec (YAML).
    pub(crate) spec: PathBuf,
    /// Environment of the spec.
    #[arg(long)]
    pub(crate) env: String,
    /// Folder `synth` wrote (the one reviewed and committed).
    #[arg(long, default_value = "stacks")]
    pub(crate) stacks: PathBuf,
}

#[derive(Args)]
#[command(
    long_about = "For every stack of the environment, in deployment order, what a deploy \
would change: resources added, removed and modified with property paths, after a security \
section (IAM statements widened or narrowed, encryption and key changes, public access, network \
isolation, removed retain policies, replacement of stateful resources).\n\nAgainst AWS it compares \
the deployed template (GetTemplate) with the spec's rendering and asks CloudFormation for a change \
set, which it deletes again (nothing is changed; a stack not deployed yet is all \"add\"; a \
template over 51,200 bytes is put in the deploy bucket for the change set, as deploy would). With \
--against DIR it compares DIR/<name>/<env>/ (an older rendering, e.g. main's stacks/) offline.\n\n\
Exit codes: 0 no changes, 2 changes, 1 error."
)]
pub struct DiffArgs {
    #[command(flatten)]
    target: Target,
    /// Compare offline with the rendered tree in DIR instead of the deployed stacks.
    #[arg(long, value_name = "DIR")]
    against: Option<PathBuf>,
    /// Template parameter for the change sets (repeatable); deployed values are kept otherwise.
    #[arg(long = "parameter", value_name = "KEY=VALUE")]
    parameters: Vec<KeyValue>,
    #[arg(long, value_enum, default_value_t)]
    format: OutFormat,
}

#[derive(Args)]
#[command(
    long_about = "Deploys the environment's stacks in manifest order (recovery region \
first) through change sets: for each stack it creates a change set, shows the changes (security \
first), asks when --require-approval says so, executes it and follows the stack events until the \
stack settles. A template over CloudFormation's inline limit (51,200 bytes) is uploaded to the \
bootstrap's deploy bucket first (key: stack name and sha256 of the template, so the same template is \
uploaded once; SSE-KMS) and the change set reads it from there.\n\nIt refuses to start when stacks/ is stale (run `dxops synth`) or the audit has \
findings, and refuses to replace a stateful resource (bucket, key, log group, model package group) \
without --allow-replace.\n\nThe model image: `dxops image push` prints host/repository@sha256:...; pass it as \
--image-uri to pin the ImageUri parameter by digest.\n\nExit codes: 0 deployed or no changes, 1 error, failure or refusal."
)]
pub struct DeployArgs {
    #[command(flatten)]
    target: Target,
    /// When to ask before executing a change set.
    #[arg(long, value_enum, default_value_t)]
    require_approval: Approval,
    /// Answer yes to every question.
    #[arg(long)]
    yes: bool,
    /// Allow change sets that replace a stateful resource (its contents are not carried over).
    #[arg(long)]
    allow_replace: bool,
    /// Seconds to wait for each stack to settle.
    #[arg(long, default_value_t = 3600, value_name = "SECS")]
    timeout: u64,
    /// Template parameter (repeatable), e.g. `--parameter ImageUri=...`; every parameter the manifest lists is required.
    #[arg(long = "parameter", value_name = "KEY=VALUE")]
    parameters: Vec<KeyValue>,
    /// The model image pinned by digest, as `dxops image push` prints it (`host/repository@sha256:...`): the ImageUri parameter, over any `--parameter ImageUri=`.
    #[arg(long, value_name = "REF")]
    image_uri: Option<ImageRef>,
}

#[derive(Args)]
#[command(
    long_about = "Creates or updates what the first deploy needs, as one stack of its own \
(<name>-<env>-bootstrap, in the spec's region): the role CloudFormation deploys the environment \
with, allowed exactly the services of the resource types the rendered templates declare, in exactly \
the manifest's regions, and IAM only on the environment's own roles and policies; the bucket \
that templates over 51,200 bytes go through (encrypted, versioned, TLS only, retained); the ECR \
repository of the dxops-model image (immutable tags, scan on push, retained).\n\nRunning it again \
changes nothing unless the rendered resource types changed (\"no changes\", exit 0).\n\n\
Exit codes: 0 done or no changes, 1 error."
)]
pub struct BootstrapArgs {
    #[command(flatten)]
    target: Target,
    /// Seconds to wait for the bootstrap stack to settle.
    #[arg(long, default_value_t = 1800, value_name = "SECS")]
    timeout: u64,
}

#[derive(Args)]
#[command(
    long_about = "Deletes the environment's serving, ml and ingest stacks in reverse \
order. Stacks that hold retained stores (data, recovery) are kept, and every retained resource \
(DeletionPolicy Retain) is listed by logical and physical id: nothing that holds data is \
deleted.\n\nExit codes: 0 done, 1 error."
)]
pub struct DestroyArgs {
    #[command(flatten)]
    target: Target,
    /// Required: destroy deletes stacks.
    #[arg(long)]
    yes: bool,
    /// Required as well for an environment named prod or production.
    #[arg(long)]
    confirm_prod: bool,
    /// Seconds to wait for each stack to be deleted.
    #[arg(long, default_value_t = 3600, value_name = "SECS")]
    timeout: u64,
}

#[derive(Args)]
#[command(
    long_about = "What the environment is running: each stack's status (DescribeStacks) and \
drift (DetectStackDrift, where the endpoint offers it); the SageMaker pipeline's last executions \
(ListPipelineExecutions) with their failure reasons; the endpoint's status and its production \
variants' current weights (with the share of traffic), the weights they are shifting to and \
their instances (DescribeEndpoint); the model package group's versions with their approval \
status (ListModelPackages). A part not deployed yet says so; a part that cannot be read says \
why; neither fails the command.\n\nExamples:\n  dxops status specs/disease-prediction.yaml --env staging\n  \
dxops status specs/disease-prediction.yaml --env prod --no-drift --format json\n\n\
Exit codes: 0 ok, 2 drift found, 1 error (no or rejected credentials, no endpoint)."
)]
pub struct StatusArgs {
    #[command(flatten)]
    target: Target,
    /// Skip drift detection.
    #[arg(long)]
    no_drift: bool,
    /// How many of the pipeline's last executions to show.
    #[arg(long, default_value_t = 5, value_name = "N", value_parser = clap::value_parser!(i32).range(1..=100))]
    executions: i32,
    #[arg(long, value_enum, default_value_t)]
    format: OutFormat,
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

pub(crate) struct Loaded {
    spec: dxops_spec::spec::ValidatedSpec,
    /// Every rendered file of the spec (all environments), for the stale check.
    files: Vec<render::RenderedFile>,
}

impl Loaded {
    pub(crate) fn env(&self, env: &str) -> Result<&dxops_spec::spec::Environment> {
        self.spec.environments.get(env).with_context(|| {
            format!(
                "spec `{}` has no environment `{env}` (it has: {})",
                self.spec.name,
                self.spec
                    .environments
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
    }

    /// One file of the environment as rendered now.
    pub(crate) fn rendered_file(&self, env: &str, file: &str) -> Option<&str> {
        let path = Path::new(&self.spec.name).join(env).join(file);
        self.files
            .iter()
            .find(|f| f.path == path)
            .map(|f| f.contents.as_str())
    }

    /// The environment's files as rendered now.
    fn rendered(&self, target: &Target) -> Result<RenderedEnvironment> {
        let prefix = Path::new(&self.spec.name).join(&target.env);
        let files: BTreeMap<String, String> = self
            .files
            .iter()
            .filter(|f| f.path.starts_with(&prefix))
            .filter_map(|f| {
                Some((
                    f.path.file_name()?.to_string_lossy().into_owned(),
                    f.contents.clone(),
                ))
            })
            .collect();
        Ok(RenderedEnvironment::from_files(
            target.stacks.join(&prefix),
            &files,
        )?)
    }

    /// Files of the environment in `stacks/` that differ from the rendering.
    fn stale(&self, target: &Target) -> Result<Vec<render::Stale>> {
        let dir = target.stacks.join(&self.spec.name).join(&target.env);
        Ok(render::compare(&self.files, &target.stacks)?
            .into_iter()
            .filter(|s| Path::new(&s.path).starts_with(&dir))
            .collect())
    }
}

/// The validated spec at `path`; its problems are printed.
fn validated(path: &Path) -> Result<dxops_spec::spec::ValidatedSpec> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    match dxops_spec::spec::load(&path.display().to_string(), &text) {
        Ok(spec) => Ok(spec),
        Err(problems) => {
            for p in &problems {
                eprintln!("{}: error[{}]: {}", p.position(), p.code, p.message);
            }
            bail!(
                "{} is not a valid spec: run `dxops validate {}`",
                path.display(),
                path.display()
            );
        }
    }
}

pub(crate) fn load(target: &Target) -> Result<Loaded> {
    let spec = validated(&target.spec)?;
    let files = Renderer::embedded()?.render(&spec)?;
    let loaded = Loaded { spec, files };
    loaded.env(&target.env)?;
    Ok(loaded)
}

fn given(parameters: &[KeyValue]) -> Vec<(String, String)> {
    parameters
        .iter()
        .map(|KeyValue(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn color() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

fn paint(text: &str, code: &str) -> String {
    if color() {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

/// The report people read: the security section of every stack first,
/// then each stack's resources.
fn human_report(diffs: &[StackDiff]) -> String {
    let mut out = String::new();
    let security: Vec<_> = diffs
        .iter()
        .flat_map(|d| d.security.iter().map(move |s| (d, s)))
        .collect();
    if security.is_empty() {
        out.push_str("Security: no security-relevant changes\n\n");
    } else {
        out.push_str(&format!("Security changes ({})\n", security.len()));
        for (d, s) in &security {
            let tag = if s.broadening {
                "broadening"
            } else {
                "narrowing"
            };
            let line = format!(
                "  [{tag}] {} {} ({}): {}: {}",
                d.stack_name,
                s.logical_id,
                s.resource_type,
                serde_json::to_value(s.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                s.detail
            );
            out.push_str(&if s.broadening {
                paint(&line, "31")
            } else {
                line
            });
            out.push('\n');
        }
        out.push('\n');
    }
    for d in diffs {
        let count = |a: Action| d.resources.iter().filter(|r| r.action == a).count();
        out.push_str(&format!("Stack {} ({})", d.stack_name, d.region));
        if !d.has_changes() {
            out.push_str(": no changes\n");
            continue;
        }
        out.push_str(&format!(
            "{}: {} to add, {} to modify, {} to remove\n",
            if d.deployed { "" } else { ", not deployed" },
            count(Action::Add),
            count(Action::Modify),
            count(Action::Remove)
        ));
        for r in &d.resources {
            let sign = match r.action {
                Action::Add => "+",
                Action::Remove => "-",
                Action::Modify => "~",
            };
            let replace = match r.replacement {
                Some(Replacement::True) => " (replace)",
                Some(Replacement::Conditional) => " (may replace)",
                _ => "",
            };
            let line = format!("  {sign} {} {}{replace}", r.logical_id, r.resource_type);
            let stateful = !replace.is_empty() && dxops_aws::diff::is_stateful(&r.resource_type);
            out.push_str(&if stateful { paint(&line, "31") } else { line });
            out.push('\n');
            for p in &r.paths {
                out.push_str(&format!("      {p}\n"));
            }
        }
    }
    out
}

fn json_report(diffs: &[StackDiff]) -> Result<String> {
    Ok(serde_json::to_string_pretty(&serde_json::json!({
        "changes": diffs.iter().any(StackDiff::has_changes),
        "stacks": diffs,
    }))?)
}

fn print_report(diffs: &[StackDiff], format: OutFormat) -> Result<()> {
    match format {
        OutFormat::Human => print!("{}", human_report(diffs)),
        OutFormat::Json => println!("{}", json_report(diffs)?),
    }
    Ok(())
}

pub fn diff(args: DiffArgs) -> Result<ExitCode> {
    let loaded = load(&args.target)?;
    let rendered = loaded.rendered(&args.target)?;
    let mut diffs = Vec::new();
    if let Some(dir) = &args.against {
        let older = RenderedEnvironment::open(dir, &loaded.spec.name, &args.target.env).ok();
        for stack in &rendered.manifest.stacks {
            let new = rendered.template_value(stack)?;
            let old = match older.as_ref().and_then(|o| {
                o.manifest
                    .stacks
                    .iter()
                    .find(|s| s.file == stack.file)
                    .map(|s| (o, s))
            }) {
                Some((o, s)) => Some(o.template_value(s)?),
                None => None,
            };
            diffs.push(dxops_aws::cfn::report(
                &stack.stack_name,
                &stack.region,
                old.as_ref(),
                &new,
                None,
            ));
        }
    } else {
        let given = given(&args.parameters);
        let env = loaded.env(&args.target.env)?;
        let rt = runtime()?;
        rt.block_on(async {
            let aws = Aws::load().await;
            let first = rendered
                .manifest
                .stacks
                .first()
                .map(|s| s.region.clone())
                .unwrap_or_default();
            let who = aws.identity(&first).await?;
            let boot = aws.bootstrapped(&env.names, &env.spec.region, &who).await?;
            for stack in &rendered.manifest.stacks {
                let cfn = aws.cloudformation(&stack.region);
                let new = rendered.template_value(stack)?;
                let deployed = cfn.deployed_template(&stack.stack_name).await?;
                let plan = match &deployed {
                    None => None,
                    Some(_) => {
                        let params = rendered.parameters(stack, &given);
                        let source = aws
                            .template_source(
                                boot.as_ref(),
                                &stack.stack_name,
                                rendered.template_text(stack),
                            )
                            .await?;
                        uploaded(&stack.stack_name, &source);
                        let plan = cfn
                            .plan(
                                &stack.stack_name,
                                &source,
                                &params,
                                boot.as_ref().map(|b| b.role_arn.as_str()),
                                Duration::from_secs(600),
                            )
                            .await?;
                        if let Some(plan) = &plan {
                            cfn.discard(plan).await?;
                        }
                        plan
                    }
                };
                let mut d = dxops_aws::cfn::report(
                    &stack.stack_name,
                    &stack.region,
                    deployed.as_ref(),
                    &new,
                    plan.as_ref(),
                );
                if deployed.is_some() && plan.is_none() {
                    // CloudFormation's word: nothing to change (parameters included).
                    d.resources.clear();
                    d.security.clear();
                }
                diffs.push(d);
            }
            Ok::<(), dxops_aws::DeployError>(())
        })?;
    }
    print_report(&diffs, args.format)?;
    Ok(if diffs.iter().any(StackDiff::has_changes) {
        ExitCode::from(EXIT_CHANGES)
    } else {
        ExitCode::SUCCESS
    })
}

/// Stack events as lines (when stderr is not a terminal) or above a spinner.
struct Display {
    bar: Option<ProgressBar>,
}

impl Display {
    fn new(stack: &str) -> Display {
        if !std::io::stderr().is_terminal() {
            return Display { bar: None };
        }
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_message(stack.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        Display { bar: Some(bar) }
    }

    fn line(&self, text: String) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Progress for Display {
    fn event(&self, stack: &str, e: &Event) {
        let reason = e
            .reason
            .as_deref()
            .filter(|r| !r.is_empty())
            .map(|r| format!(": {r}"))
            .unwrap_or_default();
        self.line(format!(
            "  {stack} {} {} {}{reason}",
            e.logical_id, e.resource_type, e.status
        ));
        if let Some(bar) = &self.bar {
            bar.set_message(format!("{stack} {} {}", e.logical_id, e.status));
        }
    }

    fn waiting(&self, stack: &str, status: &str, elapsed: Duration) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!("{stack} {status} ({} s)", elapsed.as_secs()));
        }
    }
}

fn ask(question: &str) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!(
            "{question}: approval needed and no terminal to ask; pass --yes (or --require-approval never)"
        );
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush().ok();
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

pub fn deploy(args: DeployArgs) -> Result<ExitCode> {
    let loaded = load(&args.target)?;
    let stale = loaded.stale(&args.target)?;
    if !stale.is_empty() {
        for s in &stale {
            eprintln!("stale: {}", s.path);
        }
        bail!(
            "{} is stale: {} file{} differ from the spec's rendering\nhint: run `dxops synth {}`, review and commit, then deploy",
            args.target.stacks.display(),
            stale.len(),
            if stale.len() == 1 { "" } else { "s" },
            args.target.spec.display()
        );
    }
    let env = loaded.env(&args.target.env)?;
    let rendered =
        RenderedEnvironment::open(&args.target.stacks, &loaded.spec.name, &args.target.env)?;
    let named: Vec<(String, String)> = rendered
        .manifest
        .stacks
        .iter()
        .map(|s| (s.file.clone(), rendered.template_text(s).to_string()))
        .collect();
    let audit = render::audit_env(
        env,
        named.iter().map(|(n, t)| (n.as_str(), t.as_str())),
        Some(super::today_utc()),
    )?;
    let failing = audit
        .findings
        .iter()
        .filter(|f| f.status == dxops_spec::audit::Status::Fail)
        .count();
    if failing > 0 {
        bail!(
            "the compliance audit has {failing} finding{}; nothing was deployed\nhint: run `dxops audit {} --env {}`",
            if failing == 1 { "" } else { "s" },
            args.target.spec.display(),
            args.target.env
        );
    }
    let mut given = given(&args.parameters);
    if let Some(ImageRef(uri)) = &args.image_uri {
        given.push(("ImageUri".into(), uri.clone()));
    }
    let params: Vec<_> = rendered
        .manifest
        .stacks
        .iter()
        .map(|s| rendered.parameters(s, &given))
        .collect();
    let timeout = Duration::from_secs(args.timeout);
    let rt = runtime()?;
    rt.block_on(async {
        let aws = Aws::load().await;
        let first = &rendered.manifest.stacks[0].region;
        let who = aws.identity(first).await?;
        eprintln!("deploying {} ({}) as {} in account {}", loaded.spec.name, args.target.env, who.arn, who.account);
        // Before anything changes: every parameter not given has a deployed
        // value to keep (after a promotion, the model that serves).
        let mut deployed = Vec::new();
        for (stack, params) in rendered.manifest.stacks.iter().zip(&params) {
            let template = aws
                .cloudformation(&stack.region)
                .deployed_template(&stack.stack_name)
                .await?;
            dxops_aws::check_kept(stack, params, template.as_ref())?;
            deployed.push(template);
        }
        let Some(boot) = aws.bootstrapped(&env.names, &env.spec.region, &who).await? else {
            return Ok(Err(anyhow::anyhow!(
                "{} ({}) is not bootstrapped: no deploy role yet\nhint: run `dxops bootstrap {} --env {}` once",
                loaded.spec.name,
                args.target.env,
                args.target.spec.display(),
                args.target.env
            )));
        };
        eprintln!("CloudFormation acts as {}", boot.role_arn);
        for ((stack, values), deployed) in rendered.manifest.stacks.iter().zip(&params).zip(deployed) {
            let cfn = aws.cloudformation(&stack.region);
            let new = rendered.template_value(stack)?;
            let source = aws
                .template_source(Some(&boot), &stack.stack_name, rendered.template_text(stack))
                .await?;
            uploaded(&stack.stack_name, &source);
            let Some(plan) = cfn
                .plan(
                    &stack.stack_name,
                    &source,
                    values,
                    Some(&boot.role_arn),
                    timeout,
                )
                .await?
            else {
                println!("Stack {} ({}): no changes", stack.stack_name, stack.region);
                ensure_deid_key(&aws, &boot, env, &stack.file).await?;
                continue;
            };
            let report = dxops_aws::cfn::report(
                &stack.stack_name,
                &stack.region,
                deployed.as_ref(),
                &new,
                Some(&plan),
            );
            print!("{}", human_report(std::slice::from_ref(&report)));
            let replaced = report.stateful_replacements();
            if !replaced.is_empty() && !args.allow_replace {
                cfn.discard(&plan).await?;
                let ids: Vec<String> = replaced
                    .iter()
                    .map(|r| format!("{} ({})", r.logical_id, r.resource_type))
                    .collect();
                return Ok(Err(anyhow::anyhow!(
                    "refused: the change set for {} replaces stateful resource{} {}; their contents would not be carried over. Nothing was changed.\nhint: pass --allow-replace after arranging a copy",
                    stack.stack_name,
                    if ids.len() == 1 { "" } else { "s" },
                    ids.join(", ")
                )));
            }
            let must_ask = !args.yes
                && match args.require_approval {
                    Approval::Never => false,
                    Approval::Broadening => report.broadening(),
                    Approval::AnyChange => true,
                };
            if must_ask {
                let ok = match ask(&format!("Deploy these changes to {}?", stack.stack_name)) {
                    Ok(ok) => ok,
                    Err(e) => {
                        cfn.discard(&plan).await?;
                        return Ok(Err(e));
                    }
                };
                if !ok {
                    cfn.discard(&plan).await?;
                    return Ok(Err(anyhow::anyhow!(
                        "not deployed: {} declined; its change set was deleted",
                        stack.stack_name
                    )));
                }
            }
            let display = Display::new(&stack.stack_name);
            let outcome = cfn.execute(&plan, &display, timeout).await;
            display.finish();
            let outcome = outcome?;
            if !outcome.succeeded {
                let first = first_failure(&outcome);
                return Ok(Err(anyhow::anyhow!(
                    "deploy of {} failed: stack is {}{first}\nrollback: {}",
                    stack.stack_name,
                    outcome.status,
                    rollback_outcome(&outcome.status)
                )));
            }
            eprintln!("{}: {}", stack.stack_name, outcome.status);
            ensure_deid_key(&aws, &boot, env, &stack.file).await?;
        }
        Ok::<Result<()>, dxops_aws::DeployError>(Ok(()))
    })??;
    Ok(ExitCode::SUCCESS)
}

/// Once the data stack (and so the artifacts bucket) exists: in hash mode,
/// the key the processing step and the gateway share, written if absent.
async fn ensure_deid_key(
    aws: &Aws,
    boot: &dxops_aws::Bootstrapped,
    env: &dxops_spec::spec::Environment,
    stack_file: &str,
) -> Result<(), dxops_aws::DeployError> {
    use dxops_contract::data::IdentifierHandling;
    if stack_file != "data.yaml" || env.spec.data.identifier_handling != IdentifierHandling::Hash {
        return Ok(());
    }
    let bucket = format!("{}-{}", env.names.bucket_artifacts, boot.account);
    let object = dxops_contract::layout::paths::DEID_KEY_OBJECT;
    if aws.ensure_deid_key(boot, &bucket).await? {
        eprintln!("de-identification key written to s3://{bucket}/{object} (kept for good)");
    } else {
        eprintln!("de-identification key: s3://{bucket}/{object} (kept)");
    }
    Ok(())
}

pub fn bootstrap(args: BootstrapArgs) -> Result<ExitCode> {
    let loaded = load(&args.target)?;
    let env = loaded.env(&args.target.env)?;
    let rendered = loaded.rendered(&args.target)?;
    let body = dxops_aws::bootstrap::template(&rendered, &env.names)?;
    let timeout = Duration::from_secs(args.timeout);
    let (stack, region) = (&env.names.stack_bootstrap, &env.spec.region);
    let rt = runtime()?;
    rt.block_on(async {
        let aws = Aws::load().await;
        let who = aws.identity(region).await?;
        eprintln!(
            "bootstrapping {} ({}) as {} in account {}",
            loaded.spec.name, args.target.env, who.arn, who.account
        );
        let cfn = aws.cloudformation(region);
        let deployed = cfn.deployed_template(stack).await?;
        let source = dxops_aws::TemplateSource::inline(stack, &body)?;
        match cfn.plan(stack, &source, &[], None, timeout).await? {
            None => println!("Stack {stack} ({region}): no changes"),
            Some(plan) => {
                let new = dxops_spec::yaml::parse_value(&body).map_err(|e| {
                    dxops_aws::DeployError::Template {
                        file: stack.clone(),
                        message: e.to_string(),
                    }
                })?;
                let report =
                    dxops_aws::cfn::report(stack, region, deployed.as_ref(), &new, Some(&plan));
                print!("{}", human_report(std::slice::from_ref(&report)));
                let display = Display::new(stack);
                let outcome = cfn.execute(&plan, &display, timeout).await;
                display.finish();
                let outcome = outcome?;
                if !outcome.succeeded {
                    return Ok(Err(anyhow::anyhow!(
                        "bootstrap of {stack} failed: stack is {}{}\nrollback: {}",
                        outcome.status,
                        first_failure(&outcome),
                        rollback_outcome(&outcome.status)
                    )));
                }
                eprintln!("{stack}: {}", outcome.status);
            }
        }
        let Some(boot) = aws.bootstrapped(&env.names, region, &who).await? else {
            return Ok(Err(anyhow::anyhow!("{stack} did not complete")));
        };
        println!("  deploy role  {}", boot.role_arn);
        println!("  bucket       {}", boot.bucket);
        println!("  repository   {}", boot.repository_uri);
        Ok::<Result<()>, dxops_aws::DeployError>(Ok(()))
    })??;
    Ok(ExitCode::SUCCESS)
}

/// Says where a template over the inline limit went.
fn uploaded(stack: &str, source: &dxops_aws::TemplateSource) {
    if let dxops_aws::TemplateSource::Url(up) = source {
        eprintln!(
            "{stack}: template of {} bytes (over the 51,200 inline) {} s3://{}/{}",
            up.bytes,
            if up.uploaded {
                "uploaded to"
            } else {
                "already in"
            },
            up.bucket,
            up.key
        );
    }
}

/// What a final stack status says about the rollback.
pub fn rollback_outcome(status: &str) -> &'static str {
    match status {
        "ROLLBACK_COMPLETE" => {
            "the new stack was rolled back and holds nothing; `dxops destroy` it before deploying again"
        }
        "UPDATE_ROLLBACK_COMPLETE" => "rolled back to the previous deployment",
        "ROLLBACK_FAILED" | "UPDATE_ROLLBACK_FAILED" => {
            "the rollback itself failed: the stack needs attention in the console"
        }
        s if s.ends_with("_FAILED") => "no rollback happened (the stack keeps what was created)",
        _ => "unknown",
    }
}

pub fn destroy(args: DestroyArgs) -> Result<ExitCode> {
    if !args.yes {
        bail!(
            "destroy deletes the serving, ml and ingest stacks of `{}`: pass --yes",
            args.target.env
        );
    }
    if matches!(args.target.env.as_str(), "prod" | "production") && !args.confirm_prod {
        bail!(
            "`{}` is a production environment: pass --confirm-prod as well",
            args.target.env
        );
    }
    let loaded = load(&args.target)?;
    let rendered =
        RenderedEnvironment::open(&args.target.stacks, &loaded.spec.name, &args.target.env)?;
    let timeout = Duration::from_secs(args.timeout);
    let rt = runtime()?;
    rt.block_on(async {
        let aws = Aws::load().await;
        aws.identity(&rendered.manifest.stacks[0].region).await?;
        let mut kept_lines = Vec::new();
        for stack in rendered.manifest.destroy_order() {
            let cfn = aws.cloudformation(&stack.region);
            let Some(info) = cfn.stack(&stack.stack_name).await? else {
                println!("Stack {}: not deployed", stack.stack_name);
                continue;
            };
            let template = match cfn.deployed_template(&stack.stack_name).await? {
                Some(t) => t,
                None => rendered.template_value(stack)?,
            };
            let retained = if info.is_review() {
                Vec::new()
            } else {
                cfn.retained(&stack.stack_name, &template).await?
            };
            let list = |out: &mut Vec<String>| {
                for r in &retained {
                    out.push(format!(
                        "  {} {} ({}) {}",
                        stack.stack_name,
                        r.logical_id,
                        r.resource_type,
                        r.physical_id.as_deref().unwrap_or("(no physical id)")
                    ));
                }
            };
            if rendered.holds_stores(stack) {
                println!("Stack {}: kept (holds retained stores)", stack.stack_name);
                list(&mut kept_lines);
                continue;
            }
            let display = Display::new(&stack.stack_name);
            let outcome = cfn.delete(&stack.stack_name, &display, timeout).await;
            display.finish();
            let outcome = outcome?;
            if !outcome.succeeded {
                let first = first_failure(&outcome);
                return Ok(Err(anyhow::anyhow!(
                    "delete of {} failed: stack is {}{first}",
                    stack.stack_name,
                    outcome.status
                )));
            }
            println!("Stack {}: deleted", stack.stack_name);
            list(&mut kept_lines);
        }
        if !kept_lines.is_empty() {
            println!(
                "Retained (not deleted; delete them by hand once their data is no longer needed):"
            );
            for line in kept_lines {
                println!("{line}");
            }
        }
        Ok::<Result<()>, dxops_aws::DeployError>(Ok(()))
    })??;
    Ok(ExitCode::SUCCESS)
}

/// One part of `status` beyond the stacks, as JSON: what AWS said, not
/// deployed, or why it could not be read. Only a network or credential
/// problem fails the command.
fn part(
    name: &str,
    found: Result<Option<serde_json::Value>, dxops_aws::DeployError>,
) -> Result<serde_json::Value, dxops_aws::DeployError> {
    let mut v = match found {
        Ok(Some(value)) => serde_json::json!({ "deployed": true, "value": value }),
        Ok(None) => serde_json::json!({ "deployed": false }),
        Err(
            e @ (dxops_aws::DeployError::Unreachable { .. }
            | dxops_aws::DeployError::Credentials { .. }
            | dxops_aws::DeployError::NoCredentials { .. }),
        ) => return Err(e),
        Err(e) => serde_json::json!({ "deployed": null, "unavailable": e.to_string() }),
    };
    v["name"] = name.into();
    Ok(v)
}

/// The line of a part that holds nothing to show.
fn absent(part: &serde_json::Value) -> Option<String> {
    if part["deployed"] == false {
        Some("not deployed".into())
    } else {
        part["unavailable"]
            .as_str()
            .map(|why| format!("unavailable: {why}"))
    }
}

fn when(secs: &serde_json::Value) -> String {
    secs.as_i64()
        .map(dxops_aws::iso8601)
        .unwrap_or_else(|| "-".into())
}

/// The human form of `status`.
fn human_status(doc: &serde_json::Value) -> String {
    let mut out = String::new();
    for r in doc["stacks"].as_array().into_iter().flatten() {
        let drift = match r["drift"]["status"].as_str() {
            None => String::new(),
            Some("unavailable") => "  drift: unavailable".into(),
            Some(s) => format!("  drift: {s}"),
        };
        out.push_str(&format!(
            "{:<45} {:<14} {}{drift}\n",
            r["stack_name"].as_str().unwrap_or_default(),
            r["region"].as_str().unwrap_or_default(),
            r["status"].as_str().unwrap_or_default()
        ));
    }
    let p = &doc["pipeline"];
    let name = p["name"].as_str().unwrap_or_default();
    match absent(p) {
        Some(line) => out.push_str(&format!("\nPipeline {name}: {line}\n")),
        None => {
            let runs = p["value"].as_array().cloned().unwrap_or_default();
            if runs.is_empty() {
                out.push_str(&format!("\nPipeline {name}: no executions yet\n"));
            } else {
                out.push_str(&format!(
                    "\nPipeline {name}: last {}\n",
                    if runs.len() == 1 {
                        "execution".to_string()
                    } else {
                        format!("{} executions", runs.len())
                    }
                ));
            }
            for e in &runs {
                let reason = e["failure_reason"]
                    .as_str()
                    .map(|r| format!("  {r}"))
                    .unwrap_or_default();
                out.push_str(&format!(
                    "  {}  {:<10} {}{reason}\n",
                    when(&e["started"]),
                    e["status"].as_str().unwrap_or_default(),
                    e["arn"].as_str().unwrap_or_default()
                ));
            }
        }
    }
    let e = &doc["endpoint"];
    let name = e["name"].as_str().unwrap_or_default();
    match absent(e) {
        Some(line) => out.push_str(&format!("\nEndpoint {name}: {line}\n")),
        None => {
            let v = &e["value"];
            let reason = v["failure_reason"]
                .as_str()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default();
            out.push_str(&format!(
                "\nEndpoint {name}: {}{reason}\n",
                v["status"].as_str().unwrap_or_default()
            ));
            let variants = v["variants"].as_array().cloned().unwrap_or_default();
            let total: f64 = variants
                .iter()
                .filter_map(|x| x["current_weight"].as_f64())
                .sum();
            for x in &variants {
                let weight = match x["current_weight"].as_f64() {
                    Some(w) if total > 0.0 => format!("weight {w} ({:.0}%)", 100.0 * w / total),
                    Some(w) => format!("weight {w}"),
                    None => "weight -".into(),
                };
                let desired = match (x["current_weight"].as_f64(), x["desired_weight"].as_f64()) {
                    (Some(c), Some(d)) if c != d => format!(" -> {d}"),
                    _ => String::new(),
                };
                let instances = x["current_instances"]
                    .as_i64()
                    .map(|n| format!("  instances {n}"))
                    .unwrap_or_default();
                let serves = x["model_data"]
                    .as_str()
                    .map(|d| format!("  serves {d}"))
                    .unwrap_or_default();
                out.push_str(&format!(
                    "  {:<20} {weight}{desired}{instances}{serves}\n",
                    x["name"].as_str().unwrap_or_default()
                ));
            }
        }
    }
    let m = &doc["model_packages"];
    let name = m["name"].as_str().unwrap_or_default();
    match absent(m) {
        Some(line) => out.push_str(&format!("\nModel package group {name}: {line}\n")),
        None => {
            let versions = m["value"].as_array().cloned().unwrap_or_default();
            out.push_str(&format!(
                "\nModel package group {name}: {} version{}\n",
                versions.len(),
                if versions.len() == 1 { "" } else { "s" }
            ));
            for v in versions.iter().rev() {
                out.push_str(&format!(
                    "  v{:<4} {:<22} {}\n",
                    v["version"].as_u64().unwrap_or_default(),
                    v["status"].as_str().unwrap_or_default(),
                    when(&v["created"])
                ));
            }
        }
    }
    out
}

pub fn status(args: StatusArgs) -> Result<ExitCode> {
    let loaded = load(&args.target)?;
    let env = loaded.env(&args.target.env)?;
    let rendered = loaded.rendered(&args.target)?;
    let names = &env.names;
    let region = &env.spec.region;
    let rt = runtime()?;
    let doc = rt.block_on(async {
        let aws = Aws::load().await;
        let mut rows = Vec::new();
        for stack in &rendered.manifest.stacks {
            let cfn = aws.cloudformation(&stack.region);
            let info = cfn.stack(&stack.stack_name).await?;
            let drift = match &info {
                Some(i) if !args.no_drift && !i.is_review() => Some(
                    cfn.drift(&stack.stack_name, Duration::from_secs(300))
                        .await?,
                ),
                _ => None,
            };
            rows.push(serde_json::json!({
                "stack_name": stack.stack_name,
                "region": stack.region,
                "status": info.as_ref().map(|i| i.status.as_str()).unwrap_or("NOT_DEPLOYED"),
                "reason": info.as_ref().and_then(|i| i.reason.clone()),
                "drift": drift,
            }));
        }
        let executions = aws
            .pipelines(region)
            .last(&names.pipeline, args.executions)
            .await;
        let endpoint = aws.endpoint_status(region, &names.endpoint).await;
        let versions = aws.registry(region).group(&names.model_package_group).await;
        let json = |found: Option<serde_json::Result<serde_json::Value>>| found.and_then(Result::ok);
        Ok::<_, dxops_aws::DeployError>(serde_json::json!({
            "stacks": rows,
            "pipeline": part(&names.pipeline, executions.map(|o| json(o.map(serde_json::to_value))))?,
            "endpoint": part(&names.endpoint, endpoint.map(|o| json(o.map(serde_json::to_value))))?,
            "model_packages": part(
                &names.model_package_group,
                versions.map(|o| json(o.map(serde_json::to_value)))
            )?,
        }))
    })?;
    let drifted = doc["stacks"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|r| r["drift"]["status"] == "DRIFTED");
    match args.format {
        OutFormat::Json => println!("{}", serde_json::to_string_pretty(&doc)?),
        OutFormat::Human => print!("{}", human_status(&doc)),
    }
    Ok(if drifted {
        ExitCode::from(EXIT_CHANGES)
    } else {
        ExitCode::SUCCESS
    })
}

/// The first failing resource of a stack operation, and why, as one line.
fn first_failure(outcome: &dxops_aws::cfn::Outcome) -> String {
    outcome
        .first_failure
        .as_ref()
        .map(|e| {
            format!(
                "\nfirst failure: {} ({}): {}",
                e.logical_id,
                e.resource_type,
                e.reason.as_deref().unwrap_or("no reason given")
            )
        })
        .unwrap_or_default()
}

#[derive(Args)]
#[command(
    long_about = "Records a decision on a version of the environment's SageMaker model \
package group (<name>-<env>): UpdateModelPackage sets its approval status, the reason as its \
ApprovalDescription, and in its CustomerMetadataProperties who decided (the caller's ARN, from STS \
GetCallerIdentity), when, why (dxops:reason, dxops:reason-sha256), and the evaluation the \
decision was made on: the package's metrics URI and, when it can be read, the sha256 of that \
evaluation.json and its macro-F1, ROC AUC, worst-class recall and drop against production. The \
package is read back and shown. A version is decided once: one already approved or rejected is \
refused.\n\nWith --local the decision goes to the local registry of `dxops run` instead.\n\n\
Examples:\n  dxops approve specs/disease-prediction.yaml --env staging --version 3 --reason \"reviewed by the clinical board\"\n  \
dxops reject specs/disease-prediction.yaml --env staging --version 4 --reason \"recall on lupus too low\"\n  \
dxops approve specs/disease-prediction.yaml --env staging --version 1 --reason \"first model\" --local\n\n\
Exit codes: 0 recorded; 1 error (unknown version, already decided, empty or over-long reason, no \
or rejected credentials, no endpoint)."
)]
pub struct DecideArgs {
    /// The spec (YAML).
    spec: PathBuf,
    /// Environment of the spec.
    #[arg(long)]
    env: String,
    /// Model package version (`dxops status` lists them).
    #[arg(long)]
    version: u32,
    /// Why: recorded with who decided and when (at most 1,024 characters).
    #[arg(long)]
    reason: String,
    /// Decide in the local registry of `dxops run` (under --out) instead of SageMaker's.
    #[arg(long)]
    local: bool,
    /// Folder of runs and of the local registry (with --local).
    #[arg(long, default_value = crate::local::DEFAULT_OUT)]
    out: PathBuf,
    #[arg(long, value_enum, default_value_t)]
    format: OutFormat,
}

/// `dxops approve` / `dxops reject`.
pub fn decide(args: DecideArgs, verdict: Verdict) -> Result<ExitCode> {
    if args.local {
        let status = match verdict {
            Verdict::Approved => dxops_local::registry::ApprovalStatus::Approved,
            Verdict::Rejected => dxops_local::registry::ApprovalStatus::Rejected,
        };
        return crate::local::decide(
            crate::local::ApproveArgs {
                spec: args.spec,
                env: args.env,
                version: args.version,
                reason: args.reason,
                local: true,
                out: args.out,
            },
            status,
        );
    }
    dxops_aws::sagemaker::check_reason(&args.reason)?;
    let spec = validated(&args.spec)?;
    let Some(env) = spec.environments.get(&args.env) else {
        bail!(
            "spec `{}` has no environment `{}` (it has: {})",
            spec.name,
            args.env,
            spec.environments
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        );
    };
    let group = &env.names.model_package_group;
    let region = &env.spec.region;
    let rt = runtime()?;
    let decided = rt.block_on(async {
        let aws = Aws::load().await;
        let who = aws.identity(region).await?;
        aws.registry(region)
            .decide(
                group,
                args.version,
                verdict,
                &args.reason,
                &who,
                &dxops_aws::sagemaker::now_utc(),
            )
            .await
    })?;
    match args.format {
        OutFormat::Json => println!("{}", serde_json::to_string_pretty(&decided)?),
        OutFormat::Human => {
            let p = &decided.package;
            println!(
                "{} v{}: {} by {} at {}",
                p.group, p.version, p.status, decided.by, decided.at
            );
            println!(
                "  reason      {}",
                p.approval_description.as_deref().unwrap_or_default()
            );
            let e = &decided.evaluation;
            let mut evaluation = e.uri.clone().unwrap_or_else(|| "none registered".into());
            if let Some(sha) = &e.sha256 {
                evaluation.push_str(&format!(" (sha256 {sha}"));
                if let Some(m) = &e.metrics {
                    evaluation.push_str(&format!(
                        ", macro-F1 {:.3}, ROC AUC {:.3}, worst-class recall {:.3}",
                        m.macro_f1, m.roc_auc, m.worst_class_recall
                    ));
                }
                evaluation.push(')');
            }
            if let Some(why) = &e.unread {
                evaluation.push_str(&format!(" (not read: {why})"));
            }
            println!("  evaluation  {evaluation}");
            println!("  recorded on {}", p.arn);
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Subcommand)]
pub enum PipelineCommand {
    /// Start an execution of the environment's SageMaker pipeline; with --wait, follow it to its end.
    #[command(
        long_about = "Starts an execution of the environment's SageMaker pipeline (<name>-<env>, \
deployed by the ml stack) with StartPipelineExecution. Parameters not given keep the defaults \
of the rendered pipeline.json (ImageUri, InputDataUri, ProcessingInstanceType, \
TrainingInstanceType, ModelApprovalStatus and the gates' thresholds); a name the pipeline does \
not declare is refused before any call.\n\nWith --wait it polls DescribePipelineExecution (and \
the steps, where the endpoint lists them) and shows the progress until the execution ends: \
Succeeded exits 0; Failed or Stopped exit 1 with the failure reason. After --timeout seconds it \
stops following (the execution keeps running in SageMaker) and exits 1.\n\n\
Examples:\n  dxops pipeline start specs/disease-prediction.yaml --env staging\n  \
dxops pipeline start specs/disease-prediction.yaml --env staging --wait --timeout 7200\n  \
dxops pipeline start specs/disease-prediction.yaml --env staging --parameter InputDataUri=s3://bucket/backfill/ --wait --format json\n\n\
Exit codes: 0 started (without --wait) or succeeded; 1 error (unknown parameter, pipeline not \
deployed, no or rejected credentials, no endpoint), failed, stopped, or still running at the \
timeout."
    )]
    Start(PipelineStartArgs),
}

#[derive(Args)]
pub struct PipelineStartArgs {
    #[command(flatten)]
    target: Target,
    /// Pipeline parameter (repeatable), e.g. `--parameter InputDataUri=s3://...`; the others keep their defaults.
    #[arg(long = "parameter", value_name = "KEY=VALUE")]
    parameters: Vec<KeyValue>,
    /// Follow the execution until it ends (exit 0 Succeeded, 1 Failed or Stopped).
    #[arg(long)]
    wait: bool,
    /// With --wait: seconds to follow the execution before giving up (it keeps running).
    #[arg(long, default_value_t = 10800, value_name = "SECS")]
    timeout: u64,
    /// With --wait: seconds between polls.
    #[arg(long, default_value_t = 10, value_name = "SECS")]
    poll: u64,
    #[arg(long, value_enum, default_value_t)]
    format: OutFormat,
}

pub fn pipeline(command: PipelineCommand) -> Result<ExitCode> {
    match command {
        PipelineCommand::Start(args) => pipeline_start(args),
    }
}

/// The parameter names the rendered pipeline declares.
fn pipeline_parameters(loaded: &Loaded, target: &Target) -> Result<Vec<String>> {
    let path = Path::new(&loaded.spec.name)
        .join(&target.env)
        .join("pipeline.json");
    let file = loaded
        .files
        .iter()
        .find(|f| f.path == path)
        .with_context(|| format!("the rendering has no {}", path.display()))?;
    let definition: serde_json::Value = serde_json::from_str(&file.contents)
        .with_context(|| format!("{} is not JSON", path.display()))?;
    Ok(definition["Parameters"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .filter_map(|p| p["Name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default())
}

/// An execution's progress: a line whenever its status or a step's
/// changes, above a spinner on a terminal.
struct Following {
    bar: Option<ProgressBar>,
    seen: std::cell::RefCell<BTreeMap<String, String>>,
}

impl Following {
    fn new(pipeline: &str) -> Following {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_message(pipeline.to_string());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Following {
            bar,
            seen: Default::default(),
        }
    }

    fn line(&self, text: String) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl dxops_aws::pipeline::Watch for Following {
    fn poll(
        &self,
        execution: &dxops_aws::pipeline::Execution,
        steps: &[dxops_aws::pipeline::Step],
        elapsed: Duration,
    ) {
        let secs = elapsed.as_secs();
        let mut seen = self.seen.borrow_mut();
        if seen.get("") != Some(&execution.status) {
            seen.insert(String::new(), execution.status.clone());
            self.line(format!("  {secs:>6} s  execution  {}", execution.status));
        }
        // SageMaker lists the newest step first
        for step in steps.iter().rev() {
            if seen.get(&step.name) != Some(&step.status) {
                seen.insert(step.name.clone(), step.status.clone());
                let reason = step
                    .failure_reason
                    .as_deref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default();
                self.line(format!(
                    "  {secs:>6} s  {:<10} {}{reason}",
                    step.name, step.status
                ));
            }
        }
        if let Some(bar) = &self.bar {
            let running: Vec<&str> = steps
                .iter()
                .filter(|s| s.status == "Executing")
                .map(|s| s.name.as_str())
                .collect();
            bar.set_message(format!(
                "{} {}{}",
                execution.arn.rsplit('/').next().unwrap_or_default(),
                execution.status,
                if running.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", running.join(", "))
                }
            ));
        }
    }
}

fn pipeline_start(args: PipelineStartArgs) -> Result<ExitCode> {
    let loaded = load(&args.target)?;
    let env = loaded.env(&args.target.env)?;
    let known = pipeline_parameters(&loaded, &args.target)?;
    let mut values: Vec<(String, String)> = Vec::new();
    for (k, v) in given(&args.parameters) {
        if !known.contains(&k) {
            bail!(
                "the pipeline {} has no parameter `{k}` (it has: {})",
                env.names.pipeline,
                known.join(", ")
            );
        }
        values.retain(|(key, _)| key != &k);
        values.push((k, v));
    }
    let name = env.names.pipeline.clone();
    let region = env.spec.region.clone();
    let timeout = Duration::from_secs(args.timeout);
    let rt = runtime()?;
    let started = std::time::Instant::now();
    let (arn, execution) = rt.block_on(async {
        let aws = Aws::load().await;
        let who = aws.identity(&region).await?;
        let pipelines = aws
            .pipelines(&region)
            .with_poll(Duration::from_secs(args.poll.max(1)));
        let arn = pipelines
            .start(
                &name,
                &values,
                &format!("dxops pipeline start by {}", who.arn),
            )
            .await?;
        eprintln!("started {name}: {arn}");
        if !args.wait {
            return Ok::<_, dxops_aws::DeployError>((arn, None));
        }
        let following = Following::new(&name);
        let execution = pipelines.wait(&arn, timeout, &following).await;
        following.finish();
        Ok((arn, Some(execution?)))
    })?;
    let seconds = started.elapsed().as_secs();
    if args.format == OutFormat::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "pipeline": name,
                "execution_arn": arn,
                "status": execution.as_ref().map(|e| e.status.as_str()).unwrap_or("Executing"),
                "failure_reason": execution.as_ref().and_then(|e| e.failure_reason.clone()),
                "waited": args.wait,
                "seconds": seconds,
            }))?
        );
    }
    let Some(execution) = execution else {
        if args.format == OutFormat::Human {
            println!("{name}: {arn}");
            println!(
                "  follow it: dxops status {} --env {}",
                args.target.spec.display(),
                args.target.env
            );
        }
        return Ok(ExitCode::SUCCESS);
    };
    if execution.succeeded() {
        if args.format == OutFormat::Human {
            println!("{name}: Succeeded after {seconds} s ({arn})");
        }
        return Ok(ExitCode::SUCCESS);
    }
    bail!(
        "{name}: {} after {seconds} s ({arn}): {}",
        execution.status,
        execution
            .failure_reason
            .as_deref()
            .unwrap_or("SageMaker gave no reason")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_uri_must_be_pinned_by_digest() {
        let digest = format!("sha256:{}", "ab12".repeat(16));
        let good =
            format!("123456789012.dkr.ecr.eu-west-1.amazonaws.com/p-staging/dxops-model@{digest}");
        assert_eq!(good.parse::<ImageRef>(), Ok(ImageRef(good.clone())));
        for bad in [
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/p-staging/dxops-model:1".to_string(),
            format!("dxops-model@{digest}"),
            format!("/repo@{digest}"),
            format!("host/repo@sha256:{}", "AB12".repeat(16)),
            format!("host/repo@sha256:{}", "ab".repeat(16)),
            format!("host/repo@sha512:{}", "ab12".repeat(16)),
        ] {
            let err = bad.parse::<ImageRef>().unwrap_err();
            assert!(err.contains("host/repository@sha256:"), "{bad}: {err}");
        }
    }

    #[test]
    fn status_shows_a_canary_shifting_and_parts_it_could_not_read() {
        let doc = serde_json::json!({
            "stacks": [{ "stack_name": "p-staging-ml", "region": "eu-west-1", "status": "UPDATE_COMPLETE", "drift": null }],
            "pipeline": { "name": "p-staging", "deployed": null, "unavailable": "ListPipelineExecutions for p-staging failed (AccessDeniedException): not authorized" },
            "endpoint": { "name": "p-staging", "deployed": true, "value": {
                "name": "p-staging", "status": "Updating", "failure_reason": null, "config": "c2",
                "variants": [
                    { "name": "AllTraffic", "current_weight": 9.0, "desired_weight": 0.0, "current_instances": 2, "desired_instances": 2 },
                    { "name": "AllTraffic-green", "current_weight": 1.0, "desired_weight": 10.0, "current_instances": 2, "desired_instances": 2,
                      "model": "m2", "model_data": "s3://a/runs/r2/model/model.tar.gz" }
                ] } },
            "model_packages": { "name": "p-staging", "deployed": true, "value": [
                { "version": 1, "arn": "a1", "status": "Approved", "created": 1_700_000_000, "description": null },
                { "version": 2, "arn": "a2", "status": "PendingManualApproval", "created": 1_700_086_400, "description": null }
            ] }
        });
        let text = human_status(&doc);
        for line in [
            "Pipeline p-staging: unavailable: ListPipelineExecutions for p-staging failed (AccessDeniedException)",
            "Endpoint p-staging: Updating",
            "  AllTraffic           weight 9 (90%) -> 0  instances 2",
            "  AllTraffic-green     weight 1 (10%) -> 10  instances 2  serves s3://a/runs/r2/model/model.tar.gz",
            "Model package group p-staging: 2 versions",
            "  v2    PendingManualApproval  2023-11-15T22:13:20Z",
            "  v1    Approved               2023-11-14T22:13:20Z",
        ] {
            assert!(text.contains(line), "{line}\n{text}");
        }
        // newest version first
        assert!(
            text.find("  v2 ").unwrap() < text.find("  v1 ").unwrap(),
            "{text}"
        );
    }
}
