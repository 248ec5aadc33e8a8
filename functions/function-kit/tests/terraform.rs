//! The topology xtask creates on moto (`functions/topology.json`) is the one Terraform creates
//! in AWS, and every function Terraform deploys is a binary in `functions/`.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use function_kit::topology::Topology;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The lines of the block that starts at the first line containing `start` (brace matched).
fn block<'a>(text: &'a str, start: &str) -> Vec<&'a str> {
    let mut lines = text.lines().skip_while(|l| !l.contains(start));
    let mut depth = 0_i32;
    let mut out = Vec::new();
    for line in lines.by_ref() {
        depth += line.matches('{').count() as i32 - line.matches('}').count() as i32;
        out.push(line);
        if depth <= 0 && !out.is_empty() && line.contains('}') {
            break;
        }
    }
    out
}

fn strings(text: &str) -> Vec<String> {
    text.split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

#[test]
fn terraform_subscribes_the_same_queues_with_the_same_filters() {
    let topology = Topology::committed().unwrap();
    let variables = read("infra/modules/messaging/variables.tf");
    let subscriptions = block(&variables, "variable \"subscriptions\"");
    let subscriptions = subscriptions.join("\n");
    let default = block(&subscriptions, "default = {");
    let mut terraform: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in &default[1..] {
        if let Some((name, list)) = line.split_once('=') {
            terraform.insert(name.trim().to_owned(), strings(list));
        }
    }
    let local: BTreeMap<String, Vec<String>> = topology
        .queues
        .iter()
        .map(|q| (q.name.clone(), q.event_types.clone()))
        .collect();
    assert_eq!(
        terraform, local,
        "infra/modules/messaging subscriptions vs functions/topology.json"
    );

    let standalone = block(&variables, "variable \"standalone_queues\"");
    let default_line = standalone.iter().find(|l| l.contains("default")).unwrap();
    assert_eq!(strings(default_line), topology.standalone_queues);

    // The three environments are calls of one module: what they deploy is written there.
    {
        let env = "infra/modules/platform";
        let main = read(&format!("{env}/main.tf"));
        let messaging = block(&main, "module \"messaging\"").join("\n");
        assert!(
            messaging.contains(&format!(
                "topic_name                 = \"{}\"",
                topology.topic
            )),
            "{env}: topic"
        );
        for queue in &topology.queues {
            assert!(
                messaging.contains(&format!(
                    "max_receive_count          = {}",
                    queue.max_receive_count
                )),
                "{env}: maxReceiveCount of {}",
                queue.name
            );
        }
    }
}

#[test]
fn every_function_terraform_deploys_is_a_binary_here_fed_by_its_queue() {
    let topology = Topology::committed().unwrap();
    // The three environments are calls of one module: what they deploy is written there.
    {
        let env = "infra/modules/platform";
        let main = read(&format!("{env}/main.tf"));
        let functions = block(&main, "lambda_functions = {");
        let functions_text = functions.join("\n");
        let mut names = Vec::new();
        for line in &functions[1..] {
            let trimmed = line.trim_start();
            let indent = line.len() - trimmed.len();
            if let Some(name) = trimmed.strip_suffix("= {").map(str::trim)
                && indent == 4
            {
                names.push(name.to_owned());
            }
        }
        assert!(!names.is_empty(), "{env}: no lambda_functions found");
        for name in &names {
            let crate_dir = root().join("functions").join(name);
            assert!(
                crate_dir.join("src/main.rs").exists(),
                "{env}: Terraform deploys `{name}` but functions/{name} has no binary"
            );
            let definition = block(&functions_text, &format!("    {name} = {{")).join("\n");
            if definition.contains("event_source                    = \"sqs\"") {
                let queue = topology
                    .queues
                    .iter()
                    .find(|q| definition.contains(&format!("queue_arns[\"{}\"]", q.name)));
                let queue =
                    queue.unwrap_or_else(|| panic!("{env}: {name} reads no queue of the topology"));
                assert_eq!(
                    queue.function, *name,
                    "{env}: queue {} feeds {}",
                    queue.name, queue.function
                );
            }
        }
        for queue in &topology.queues {
            assert!(
                names.contains(&queue.function),
                "{env}: the topology feeds {} but Terraform does not deploy it",
                queue.function
            );
        }
    }
}

#[test]
fn terraform_creates_the_tables_the_functions_use() {
    let topology = Topology::committed().unwrap();
    let dynamo = read("infra/modules/dynamodb/main.tf");
    for table in &topology.tables {
        let resource = block(
            &dynamo,
            &format!(
                "name                        = \"${{var.name}}-{}\"",
                table.name
            ),
        )
        .join("\n");
        assert!(!resource.is_empty(), "no table {}", table.name);
        let section = dynamo
            .split(&format!("-{}\"", table.name))
            .nth(1)
            .unwrap()
            .split("resource \"")
            .next()
            .unwrap();
        assert!(
            section.contains(&format!(
                "hash_key                    = \"{}\"",
                table.hash_key
            )),
            "{}: hash key",
            table.name
        );
        if let Some(range) = &table.range_key {
            assert!(
                section.contains(&format!("range_key                   = \"{range}\"")),
                "{}: range key",
                table.name
            );
        }
        for index in &table.indexes {
            assert!(
                section.contains(&format!("name            = \"{}\"", index.name)),
                "{}: index {}",
                table.name,
                index.name
            );
        }
    }
}
