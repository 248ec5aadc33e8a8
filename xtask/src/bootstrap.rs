//! The bootstrap Job's script (`k8s/components/bootstrap/bootstrap.sh`, an ArgoCD PreSync hook in
//! every cluster) run for real against the local PostgreSQL and RabbitMQ: twice, the second run
//! changing nothing; then each service role can use its own database and cannot connect to
//! another's, and each broker user holds permissions on its vhost only. It runs once per way the
//! script administers RabbitMQ: `rabbitmqctl`, and the management HTTP API (what the Job uses
//! against Amazon MQ; the local broker's `rabbitmq_management` plugin is enabled for it).
//! Everything it creates carries a prefix of this run and is removed afterwards.

use std::process::Command;

use anyhow::{Context, bail};

use crate::util::{root, step};

const DB_SERVICES: [&str; 5] = ["catalog", "inventory", "orders", "payments", "users"];
const AMQP_SERVICES: [&str; 5] = ["inventory", "orders", "payments", "bridge", "users"];

/// The management API of the local broker (the plugin's default listener).
const MANAGEMENT_URL: &str = "http://127.0.0.1:15672";
/// Its port.
const MANAGEMENT_PORT: u16 = 15672;

/// How the script administers RabbitMQ (its `RABBITMQ_ADMIN`).
#[derive(Clone, Copy)]
enum Admin {
    Rabbitmqctl,
    Api,
}

impl Admin {
    fn name(self) -> &'static str {
        match self {
            Admin::Rabbitmqctl => "rabbitmqctl",
            Admin::Api => "api",
        }
    }
}

/// Runs the check in both modes; removes what it created whether it passes or not.
pub fn check() -> anyhow::Result<()> {
    ensure_management_api()?;
    for (index, admin) in [Admin::Rabbitmqctl, Admin::Api].into_iter().enumerate() {
        step(&format!(
            "bootstrap Job script against the local PostgreSQL and RabbitMQ through {} (twice: idempotent)",
            admin.name()
        ));
        let prefix = format!("xt{}{index}_", std::process::id());
        let vhost = format!("{prefix}retail");
        let outcome = run_and_verify(&prefix, &vhost, admin);
        cleanup(&prefix, &vhost);
        outcome?;
    }
    Ok(())
}

/// Enables the local broker's management plugin when its listener is not up (the plugin ships
/// with Debian's rabbitmq-server; enabling it is an online change, kept across restarts).
fn ensure_management_api() -> anyhow::Result<()> {
    if crate::infra::port_open(MANAGEMENT_PORT) {
        return Ok(());
    }
    crate::util::run("rabbitmq-plugins", &["-q", "enable", "rabbitmq_management"])
        .context("enabling the RabbitMQ management plugin")?;
    crate::infra::wait_for_port(
        "the RabbitMQ management API",
        MANAGEMENT_PORT,
        std::time::Duration::from_secs(60),
    )
}

fn script(prefix: &str, vhost: &str, secret: &str, admin: Admin) -> anyhow::Result<String> {
    let mut command = Command::new("sh");
    command
        .arg("k8s/components/bootstrap/bootstrap.sh")
        .current_dir(root())
        .env("PGHOST", "127.0.0.1")
        .env("PGPORT", "5432")
        .env("PGUSER", "postgres")
        .env("PGPASSWORD", "postgres")
        .env("BOOTSTRAP_PREFIX", prefix)
        .env("RABBITMQ_ADMIN", admin.name())
        // The local broker's administrator (its default user), as Amazon MQ's admin user is.
        .env("RABBITMQ_API_URL", MANAGEMENT_URL)
        .env("RABBITMQ_ADMIN_USERNAME", "guest")
        .env("RABBITMQ_ADMIN_PASSWORD", "guest");
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

fn run_and_verify(prefix: &str, vhost: &str, admin: Admin) -> anyhow::Result<()> {
    // Passwords of this run, the same for both runs (as the Job reads them from the same secrets).
    let secret = uuid::Uuid::new_v4().simple().to_string();
    let first = script(prefix, vhost, &secret, admin)?;
    if !first.lines().any(|l| l.contains(": created")) {
        bail!("the first bootstrap run created nothing:\n{first}");
    }
    let second = script(prefix, vhost, &secret, admin)?;
    if let Some(line) = second
        .lines()
        .find(|l| !l.contains("unchanged") && !l.ends_with(": done"))
    {
        bail!("the second bootstrap run changed something ({line}):\n{second}");
    }
    // Rotated secrets: a third run with new passwords updates every broker user, which then
    // accepts only the new password. (PostgreSQL roles are not asserted here: the local server
    // trusts every loopback connection, so the script's sign-in test cannot see a stale password;
    // on RDS, which asks for it, it can.)
    let previous = secret;
    let secret = uuid::Uuid::new_v4().simple().to_string();
    let third = script(prefix, vhost, &secret, admin)?;
    for service in AMQP_SERVICES {
        let wanted = format!("rabbitmq user {prefix}{service}: updated");
        // rabbitmqctl's mode says "password updated".
        if !third
            .lines()
            .any(|l| l.replace("password updated", "updated") == wanted)
        {
            bail!("a run with rotated passwords did not report \"{wanted}\":\n{third}");
        }
    }
    for service in AMQP_SERVICES {
        let user = format!("{prefix}{service}");
        crate::util::run(
            "rabbitmqctl",
            &[
                "-q",
                "authenticate_user",
                &user,
                &format!("{secret}-{service}-amqp"),
            ],
        )
        .with_context(|| format!("broker user {user} does not accept its rotated password"))?;
        let stale = format!("{previous}-{service}-amqp");
        if crate::util::run("rabbitmqctl", &["-q", "authenticate_user", &user, &stale]).is_ok() {
            bail!("broker user {user} still accepts its previous password");
        }
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
