//! # xtask
//!
//! Every developer command, one entry point (`cargo xtask <command>`), the same in CI:
//!
//! - `up [--detach] [--release] [--observe]`: make sure PostgreSQL, Redis and RabbitMQ answer
//!   on loopback (start them, or install them with apt-get and start them), create the
//!   databases, build and start the services, the functions and the admin dashboard, load the
//!   demo catalog and admin, print every URL, run until Ctrl-C; `--observe` adds Prometheus.
//! - `down`: stop what `up --detach` started.
//! - `test`: the same infrastructure, then `cargo fmt --check`, the Terraform checks
//!   (`terraform fmt`, structure, checkov), `cargo clippy -D warnings`, the pipeline checks
//!   (actionlint, shellcheck, workflow rules), the dashboard's build and unit tests, every Rust
//!   test, the deployment and observability checks (Kubernetes, ArgoCD, Terraform IAM), the
//!   bootstrap Job's script run twice against the local servers, the dashboard's journey in Chromium
//!   against the platform started with `up --detach`, and a short chaos run (300 checkouts,
//!   every fault kind once, debug build).
//! - `bench`: load benchmarks, printed as ratios against a baseline measured in the same run
//!   (catalog and gateway, search, checkout beside pgbench, event to email, function package
//!   sizes and cold starts).
//! - `chaos`: the platform as separate processes on servers of its own, checkouts at a fixed
//!   rate through the gateway under a seeded schedule of faults, then every invariant checked
//!   (nothing lost, duplicated or oversold).
//! - `dlq list|show|replay|discard`: inspect and act on dead-lettered messages.
//! - `bootstrap`: the cluster bootstrap Job's script against the local servers (also in `test`).
//! - `schemas`: regenerate the JSON Schemas in `events/schemas/` from the event types.
//! - `demo-data`: print the deterministic demo catalog as JSON.

mod aws;
mod bench;
mod bench_checkout;
mod bench_functions;
mod bench_search;
mod bench_serverless;
mod bootstrap;
mod chaos;
mod contract;
mod dashboard;
mod demo;
mod dlq;
mod functions;
mod infra;
mod install;
mod pipeline;
mod stack;
mod tools;
mod util;

use anyhow::bail;

/// Every command `main` handles (workflows may only run these).
const COMMANDS: &[&str] = &[
    "up",
    "down",
    "test",
    "bench",
    "chaos",
    "contract",
    "schemas",
    "dlq",
    "esm",
    "demo-data",
];

const USAGE: &str = "usage: cargo xtask <command>

commands:
  up [--detach] [--release] [--observe]
                              run the platform locally with demo data (Ctrl-C stops it);
                              --observe adds Prometheus on 127.0.0.1:9090 with the rules
  down                        stop a platform started with `up --detach`
  test                        formatting, lints and every test, on real infrastructure
  bench [read|checkout|serverless|functions|all] [--binaries DIR] [--before REV]
                              benchmarks against an in-run baseline; tables, and
                              .local/bench/<group>.json
  chaos [--orders N] [--rate R] [--seed S] [--faults LIST] [--debug]
                              the platform as separate processes on servers of its own,
                              N checkouts (10000) at R/s (4) through the gateway while a
                              seeded schedule of faults (all: kill, rabbitmq-stop-app,
                              rabbitmq-kill, postgres-stop, redis-restart, aws-outage,
                              broker-cut) hits it; then every invariant is checked;
                              .local/chaos/report.json
  contract                    the API contract (openapi-spec-validator, schemathesis)
                              against a running platform (`up --detach` first); `test`
                              runs it too
  bootstrap                   run the cluster bootstrap Job's script (databases, roles,
                              broker users) against the local servers twice and check what
                              each role may do, then remove it all; `test` runs it too
  schemas                     regenerate events/schemas from the event types
  dlq list                    dead-letter queues and how many messages each holds
  dlq show <queue>            the parked messages of a consumer queue, with their failure
  dlq replay <queue> [--id ID]   send parked messages back for another set of attempts
  dlq discard <queue> [--id ID]  drop parked messages for good
  esm                         feed the functions' SQS queues into `cargo lambda watch` (run by up)
  demo-data                   print the demo catalog (JSON) to stdout";

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(command) = args.first() else {
        println!("{USAGE}");
        return Ok(());
    };
    let flags: Vec<&str> = args[1..].iter().map(String::as_str).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match command.as_str() {
        "up" => runtime.block_on(stack::up(&stack::UpOptions::parse(&flags)?)),
        "down" => stack::down(),
        "test" => run_tests(),
        "bench" => runtime.block_on(bench::run(&flags)),
        "chaos" => {
            let options = chaos::Options::parse(&flags)?;
            runtime.block_on(async {
                // Interrupted: the run is dropped, and with it everything it started.
                tokio::select! {
                    done = chaos::run(&options) => done,
                    _ = tokio::signal::ctrl_c() => anyhow::bail!("chaos run interrupted"),
                }
            })
        }
        "schemas" => write_schemas(),
        "bootstrap" => {
            infra::ensure_all()?;
            bootstrap::check()
        }
        "dlq" => runtime.block_on(dlq::run(&flags)),
        "esm" => runtime.block_on(functions::run_mappings()),
        "contract" => {
            if !stack::running() {
                bail!("no platform is running: start one with `cargo xtask up --detach`");
            }
            runtime.block_on(contract::check())
        }
        "demo-data" => {
            let catalog = demo::DemoCatalog::generate(demo::DEMO_PRODUCTS);
            println!("{}", serde_json::to_string_pretty(&catalog.to_json())?);
            Ok(())
        }
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            Ok(())
        }
        other => bail!("unknown command `{other}`\n\n{USAGE}"),
    }
}

fn write_schemas() -> anyhow::Result<()> {
    let dir = util::root().join("events").join("schemas");
    std::fs::create_dir_all(&dir)?;
    for entry in std::fs::read_dir(&dir)? {
        std::fs::remove_file(entry?.path())?;
    }
    for (file, schema) in events::payloads::schemas() {
        std::fs::write(
            dir.join(&file),
            format!("{}\n", serde_json::to_string_pretty(&schema)?),
        )?;
        println!("wrote events/schemas/{file}");
    }
    Ok(())
}

/// The admin dashboard's journey in Chromium, then the API contract (`contract`), against the
/// whole platform as `up` runs it (started here, with rate limits raised for the contract run,
/// and stopped afterwards; an already running platform is used as it is).
fn end_to_end() -> anyhow::Result<()> {
    let started = !stack::running();
    if started {
        util::step("starting the platform for the end-to-end journey");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        runtime.block_on(stack::up(&stack::UpOptions::for_tests()))?;
    }
    let mut outcome = dashboard::e2e();
    if outcome.is_ok() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        outcome = runtime.block_on(contract::check());
    }
    if started {
        stack::down()?;
    }
    outcome
}

fn run_tests() -> anyhow::Result<()> {
    infra::ensure_all()?;
    let env = infra::test_env();
    util::step("cargo fmt --check");
    util::cargo(&["fmt", "--all", "--", "--check"], &env)?;
    util::step("infrastructure code");
    tools::check_infra()?;
    util::step("cargo clippy");
    util::cargo(
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ],
        &env,
    )?;
    util::step("delivery pipeline");
    pipeline::check_workflows(COMMANDS)?;
    functions::check_lean()?;
    dashboard::build()?;
    dashboard::unit_tests()?;
    util::step("cargo test");
    let exported = util::root().join(".local").join("exported-metrics.txt");
    let _ = std::fs::remove_file(&exported);
    let _ = std::fs::remove_file(exported.with_file_name("exported-metrics-bridge.txt"));
    // The serverless tests run the functions under `cargo lambda watch`.
    let mut env = env;
    env.push((
        "CARGO_LAMBDA".into(),
        functions::cargo_lambda()?.to_string_lossy().into_owned(),
    ));
    util::cargo(&["test", "--workspace", "--locked", "--no-fail-fast"], &env)?;
    util::step("deployment artifacts and observability");
    tools::check_deploy(&exported)?;
    bootstrap::check()?;
    end_to_end()?;
    util::step("chaos: 300 checkouts through every fault kind (debug build)");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(chaos::run(&chaos::Options::parse(&[
        "--orders", "300", "--rate", "1.5", "--seed", "7", "--debug",
    ])?))?;
    util::step("all checks passed");
    Ok(())
}
