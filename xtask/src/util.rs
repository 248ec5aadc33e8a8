//! Process helpers.

use std::fs::File;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{Context, bail};

/// Prints a step header.
pub fn step(message: &str) {
    println!("==> {message}");
}

/// The repository root: the nearest directory at or above the working directory whose
/// `Cargo.toml` declares the workspace. Found at run time, not compile time, because one shared
/// target directory may serve several checkouts.
pub fn root() -> PathBuf {
    let start = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    start
        .ancestors()
        .find(|dir| {
            std::fs::read_to_string(dir.join("Cargo.toml"))
                .is_ok_and(|toml| toml.contains("[workspace]"))
        })
        .map_or(start.clone(), PathBuf::from)
}

/// The `cargo` that runs us, so toolchain and target dir carry over.
pub fn cargo_bin() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

/// Runs `cargo <args>` in the repository root, failing on a non-zero exit.
pub fn cargo(args: &[&str], env: &[(String, String)]) -> anyhow::Result<()> {
    let status = Command::new(cargo_bin())
        .args(args)
        .current_dir(root())
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .status()
        .with_context(|| format!("running cargo {}", args.join(" ")))?;
    if !status.success() {
        bail!("`cargo {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

/// The directory cargo builds into.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from)
}

/// Whether `program` is on PATH.
pub fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs a command, failing with its output on a non-zero exit; returns stdout.
pub fn run(program: &str, args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("running {program}"))?;
    if !output.status.success() {
        bail!(
            "`{program} {}` failed ({}): {}{}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Runs `program args` in the repository root with `env` added, its output going to ours,
/// failing on a non-zero exit.
pub fn run_checked(program: &Path, args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<()> {
    let status = Command::new(program)
        .args(args)
        .current_dir(root())
        .envs(env.iter().copied())
        .status()
        .with_context(|| format!("running {}", program.display()))?;
    if !status.success() {
        bail!(
            "`{} {}` failed ({status})",
            program.display(),
            args.join(" ")
        );
    }
    Ok(())
}

/// Spawns `command` detached and logged: stdin from /dev/null, stdout and stderr to `log`, in
/// a process group of its own (so it outlives this command, and a group kill ends it with its
/// children). Callers add what they start as context.
pub fn spawn_logged(command: &mut Command, log: File) -> anyhow::Result<Child> {
    let stdout = log.try_clone().context("duplicating the log file handle")?;
    Ok(command
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(log)
        .process_group(0)
        .spawn()?)
}

/// Whether we run as root (apt-get and starting system services need it).
pub fn is_root() -> bool {
    run("id", &["-u"]).is_ok_and(|uid| uid.trim() == "0")
}

/// The arguments of `kill` that send `signal` to process group `pgid`, spelled `-s SIGNAL --
/// -PGID`. The short spelling is a trap: procps-ng 4's `kill -KILL -1234` reads the group as
/// its first digit and calls `kill(-1, SIGKILL)`, which as root signals every process on the
/// machine (what ended the CI runs that reached the end of the chaos run).
pub fn group_kill_args(signal: &str, pgid: u32) -> [String; 4] {
    [
        "-s".to_owned(),
        signal.to_owned(),
        "--".to_owned(),
        format!("-{pgid}"),
    ]
}

/// Sends `signal` (`KILL`, `TERM`) to every process of group `pgid`; never to groups 0 and 1
/// (this process's own group, and init's).
pub fn kill_group(signal: &str, pgid: u32) {
    if pgid <= 1 {
        return;
    }
    let _ = Command::new("kill")
        .args(group_kill_args(signal, pgid))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::CommandExt as _;
    use std::time::{Duration, Instant};

    use super::*;

    #[test]
    fn a_group_kill_names_the_group_after_the_end_of_options() {
        assert_eq!(
            group_kill_args("KILL", 1234),
            ["-s", "KILL", "--", "-1234"].map(str::to_owned)
        );
    }

    #[test]
    fn a_group_kill_ends_the_group_and_nothing_else() {
        let spawn = || {
            Command::new("sh")
                .args(["-c", "sleep 60 & sleep 60"])
                .process_group(0)
                .spawn()
                .expect("sh starts")
        };
        let mut group = spawn();
        let mut bystander = spawn();
        // Let the shell start its background child, a second member of the group.
        std::thread::sleep(Duration::from_millis(200));
        kill_group("KILL", group.id());
        let started = Instant::now();
        while group.try_wait().ok().flatten().is_none() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "group not killed"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // The background `sleep` was in the group too (killed, then reaped by init).
        let pgid = group.id().to_string();
        let alive = || {
            std::fs::read_dir("/proc")
                .expect("/proc")
                .filter_map(Result::ok)
                .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
                .filter(|stat| {
                    // pid (comm) state ppid pgrp ...: fields after the command's `)`.
                    let fields: Vec<&str> = stat
                        .rsplit_once(')')
                        .map(|(_, rest)| rest.split_whitespace().collect())
                        .unwrap_or_default();
                    fields.get(2) == Some(&pgid.as_str()) && fields.first() != Some(&"Z")
                })
                .count()
        };
        while alive() > 0 {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "a member of the group survived"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            matches!(bystander.try_wait(), Ok(None)),
            "a process of another group lives on"
        );
        kill_group("KILL", bystander.id());
        let _ = bystander.wait();
    }
}
