//! `dxops-gateway`: started by Lambda as `bootstrap`. Reads the data
//! contract packaged beside it, the endpoint's name and (hash mode) the
//! de-identification key from the environment, then answers events until
//! Lambda ends the environment.

use std::process::ExitCode;

use anyhow::Context as _;
use dxops_gateway::CONTRACT_FILE;
use dxops_ml::serve::lambda::{check_environment, task_root};

const HELP: &str = "\
dxops-gateway: the Lambda function between API Gateway and a SageMaker endpoint.

It checks each request against the model's data contract (400/422 naming the
row and field, never a value), drops or hashes the identifiers the contract
lists, calls the endpoint and answers with its predictions, the inference id
and (hash mode) the pseudonyms.

Usage: started by Lambda's provided.al2023 runtime as `bootstrap`; no arguments.

Environment:
  AWS_LAMBDA_RUNTIME_API     set by Lambda (or a local Runtime API)
  LAMBDA_TASK_ROOT           the unpacked package, which holds process.json
  DXOPS_ENDPOINT_NAME        the endpoint to call
  DXOPS_DEID_KEY_OBJECT      hash mode: s3://bucket/key of the processing step's key,
                             read once at cold start
  DXOPS_DEID_KEY             hash mode: the key itself (takes precedence; tests, `dxops run`)
  DXOPS_METRICS_NAMESPACE    EMF namespace (default dxops)
  AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME  another SageMaker Runtime (tests, `dxops run`)

Exit codes: 1 when it cannot start (outside Lambda, no contract, no endpoint).";

fn main() -> ExitCode {
    if std::env::args().skip(1).any(|a| a == "--help" || a == "-h") {
        println!("{HELP}");
        return ExitCode::SUCCESS;
    }
    if let Some(a) = std::env::args().nth(1) {
        eprintln!("error: unexpected argument `{a}`\n\n{HELP}");
        return ExitCode::from(1);
    }
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run() -> anyhow::Result<()> {
    // Outside Lambda the runtime client cannot start: say so before
    // looking for the package.
    check_environment()?;
    let root = task_root().context("cannot tell where the package is (LAMBDA_TASK_ROOT)")?;
    Ok(dxops_gateway::run(&root.join(CONTRACT_FILE))?)
}
