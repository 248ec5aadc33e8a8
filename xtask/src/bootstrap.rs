//! The bootstrap Job's script (`k8s/components/bootstrap/bootstrap.sh`, an ArgoCD PreSync hook in
//! every cluster) run for real against the local PostgreSQL and RabbitMQ: twice, the second run
//! changing nothing; then each service role can use its own database and cannot connect to
//! another's, and each broker user holds permissions on its vhost only. Everything it creates
//! carries a prefix of this run and is removed afterwards.

use std::process::Command;

use anyhow::{Context, bail};

use crate::util::{root, step};

const DB_SERVICES: [&str; 5] = ["catalog", "inventory", "orders", "payments", "users"];
const AMQP_SERVICES: [&str; 5] = ["inventory", "orders", "payments", "bridge", "users"];

/// Runs the check; removes what it created whether it passes or not.
pub fn check() -> anyhow::Result<()> {
    step("bootstrap Job script against the local PostgreSQL and RabbitMQ (twice: idempotent)");
    let prefix = format!("xt{}_", std::process::id());
    let vhost = format!("{prefix}retail");
    let outcome = run_and_verify(&prefix, &vhost);
    cleanup(&prefix, &vhost);
    outcome
}

fn script(prefix: &str, vhost: &str, secret: &str) -> anyhow::Result<String> {
    let mut command = Command::new("sh");
    command
        .arg("k8s/components/bootstrap/bootstrap.sh")
        .current_dir(root())
        .env("PGHOST", "127.0.0.1")
        .env("PGPORT", "5432")
        .env("PGUSER", "postgres")
        .env("PGPASSWORD", "postgres")
        .env("BOOTSTRAP_PREFIX", prefix)
        .env("RABBITMQ_ADMIN", "rabbitmqctl");
    for service in DB_SERVICES {
        let var = service.to_uppercase();
        command.env(
            format!("{var}_DB_PASSWORD"),
            format!("{secret}-{service}-db"),
        );
    }
    for service in AMQP_SERVICES {
        let var = service.to_uppercase();
        command
            .env(
                format!("{var}_AMQP_PASSWORD"),
                format!("{secret}-{service}-amqp"),
            )
            .env(format!("{var}_AMQP_VHOST"), vhost);
    }
    let output = command.output().context("running bootstrap.sh")?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        bail!(
            "bootstrap.sh failed ({}):\n{stdout}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(stdout)
}

fn run_and_verify(prefix: &str, vhost: &str) -> anyhow::Result<()> {
    // Passwords of this run, the same for both runs (as the Job reads them from the same secrets).
    let secret = uuid::Uuid::new_v4().simple().to_string();
    let first = script(prefix, vhost, &secret)?;
    if !first.lines().any(|l| l.contains(": created")) {
        bail!("the first bootstrap run created nothing:\n{first}");
    }
    let second = script(prefix, vhost, &secret)?;
    if let Some(line) = second
        .lines()
        .find(|l| !l.contains("unchanged") && !l.ends_with(": done"))
    {
        bail!("the second bootstrap run changed something ({line}):\n{second}");
    }
    for service in DB_SERVICES {
        let role = format!("{prefix}{service}");
        // Its own database: it may create a table there (what its migrations do).
        let password = format!("{secret}-{service}-db");
        psql_as(
            &role,
            &password,
            &role,
            "create table bootstrap_probe (id int); drop table bootstrap_probe",
        )
        .with_context(|| format!("{role} cannot create a table in its own database"))?;
        for other in DB_SERVICES.iter().filter(|o| **o != service) {
            let database = format!("{prefix}{other}");
            match psql_as(&role, &password, &database, "select 1") {
                Ok(_) => bail!("{role} can connect to {database}, which is not its database"),
                Err(err) if format!("{err:#}").contains("permission denied") => {}
                Err(err) => return Err(err.context(format!("{role} connecting to {database}"))),
            }
        }
    }
    let permissions = crate::util::run(
        "rabbitmqctl",
        &["-q", "--no-table-headers", "list_permissions", "-p", vhost],
    )?;
    for service in AMQP_SERVICES {
        let user = format!("{prefix}{service}");
        if !permissions
            .lines()
            .any(|l| l.starts_with(&format!("{user}\t")))
        {
            bail!("broker user {user} has no permissions on {vhost}:\n{permissions}");
        }
        let elsewhere = crate::util::run(
            "rabbitmqctl",
            &["-q", "--no-table-headers", "list_user_permissions", &user],
        )?;
        if elsewhere
            .lines()
            .any(|l| !l.starts_with(&format!("{vhost}\t")))
        {
            bail!("broker user {user} has permissions beyond {vhost}:\n{elsewhere}");
        }
    }
    println!(
        "    {} objects created, all unchanged on the second run; {} roles confined to their databases",
        first.lines().filter(|l| l.contains(": created")).count(),
        DB_SERVICES.len()
    );
    Ok(())
}

/// `sql` in `database`, signed in as `role` with its password (as the service would).
fn psql_as(role: &str, password: &str, database: &str, sql: &str) -> anyhow::Result<String> {
    let output = Command::new("psql")
        .args(["-h", "127.0.0.1", "-U", role, "-d", database, "-qAtX"])
        .args(["-v", "ON_ERROR_STOP=1", "-c", sql])
        .env("PGPASSWORD", password)
        .output()
        .context("running psql")?;
    if !output.status.success() {
        bail!(
            "psql as {role} on {database}: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn cleanup(prefix: &str, vhost: &str) {
    for service in DB_SERVICES {
        let name = format!("{prefix}{service}");
        let _ = crate::infra::drop_database(&name);
        let _ = crate::infra::psql("postgres", &format!("drop role if exists \"{name}\""));
    }
    for service in AMQP_SERVICES {
        let _ = crate::util::run(
            "rabbitmqctl",
            &["-q", "delete_user", &format!("{prefix}{service}")],
        );
    }
    let _ = crate::util::run("rabbitmqctl", &["-q", "delete_vhost", vhost]);
}
