#!/usr/bin/env python3
"""Policy check for the GitHub Actions workflows (and local composite actions).

Reads every .github/workflows/*.yml|*.yaml and .github/actions/**/action.yml|yaml
under --repo-root and reports, as <file>:<job>:<step>: <problem> [rule]:

  xtask             a `run:` calls `cargo xtask <cmd>` and <cmd> is not one of
                    --xtask-commands (CI must call the developers' commands)
  unpinned          a third-party `uses:` (anything but ./local and docker://)
                    is not pinned to a full 40-hex commit SHA
  version-comment   a pinned `uses:` line has no `# vX.Y.Z` comment saying
                    which release the SHA is
  top-permissions   the workflow has no top-level `permissions:`
  top-write         the top-level `permissions:` grants write access (grant it
                    per job instead)
  job-permissions   a job has no `permissions:`

Exit status 1 when anything is found (every problem is listed), 0 otherwise.

    check_workflows.py --repo-root . --xtask-commands up,down,test,bench,...
    check_workflows.py --self-test

--self-test writes small workflows that break each rule into a temporary
directory and asserts that each is caught, and that a clean one passes, so
the check cannot silently pass everything.

Python 3.11, PyYAML only (pyyaml==6.0.3).
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import textwrap
from collections import defaultdict, deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import yaml

SHA = re.compile(r"^[0-9a-f]{40}$")
# `cargo xtask <cmd>`, also `cargo +toolchain xtask <cmd>`; <cmd> is the next word.
XTASK = re.compile(r"\bcargo\s+(?:\+\S+\s+)?xtask(?:\s+([^\s;&|()'\"`]+))?")
# A `uses:` key line (step or job), with its value and an optional comment.
USES_LINE = re.compile(r"""^\s*(?:-\s+)?uses:\s*["']?(?P<value>[^\s"'#]+)["']?\s*(?:#\s*(?P<comment>.*))?$""")
VERSION_COMMENT = re.compile(r"^v?\d+(?:\.\d+)*\S*")


@dataclass(frozen=True)
class Problem:
    """One finding: where (file:job:step), what, and the rule it breaks."""

    where: str
    message: str
    rule: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message} [{self.rule}]"


def is_third_party(uses: str) -> bool:
    return not uses.startswith(("./", "docker://"))


def is_pinned(uses: str) -> bool:
    _, at, ref = uses.partition("@")
    return bool(at) and bool(SHA.match(ref))


def step_label(index: int, step: dict[str, Any]) -> str:
    name = step.get("name") or step.get("id") or step.get("uses") or ""
    name = str(name).splitlines()[0] if name else ""
    return f"steps[{index}]" + (f" ({name})" if name else "")


def raw_uses_comments(text: str) -> dict[str, deque[str | None]]:
    """The comment of every `uses:` line, per value, in file order."""
    found: dict[str, deque[str | None]] = defaultdict(deque)
    for line in text.splitlines():
        match = USES_LINE.match(line)
        if match:
            found[match["value"]].append(match["comment"])
    return found


class Checker:
    def __init__(self, root: Path, xtask_commands: set[str]) -> None:
        self.root = root
        self.xtask_commands = xtask_commands
        self.problems: list[Problem] = []
        self.files = 0

    def add(self, where: str, message: str, rule: str) -> None:
        self.problems.append(Problem(where, message, rule))

    def files_to_check(self) -> Iterator[tuple[Path, str]]:
        workflows = self.root / ".github" / "workflows"
        for pattern in ("*.yml", "*.yaml"):
            for path in sorted(workflows.glob(pattern)):
                yield path, "workflow"
        actions = self.root / ".github" / "actions"
        for pattern in ("action.yml", "action.yaml"):
            for path in sorted(actions.rglob(pattern)):
                yield path, "action"

    def run(self) -> list[Problem]:
        for path, kind in self.files_to_check():
            self.files += 1
            name = str(path.relative_to(self.root))
            text = path.read_text(encoding="utf-8")
            try:
                document = yaml.safe_load(text)
            except yaml.YAMLError as error:
                self.add(name, f"is not valid YAML: {error}".replace("\n", " "), "yaml")
                continue
            if not isinstance(document, dict):
                self.add(name, "is not a YAML mapping", "yaml")
                continue
            comments = raw_uses_comments(text)
            if kind == "workflow":
                self.check_workflow(name, document, comments)
            else:
                self.check_action(name, document, comments)
        return self.problems

    def check_workflow(self, name: str, document: dict[str, Any], comments: dict[str, deque[str | None]]) -> None:
        if "permissions" not in document:
            self.add(f"{name}:(top level)", "no top-level `permissions:` (use `permissions: {}`)", "top-permissions")
        elif grants_write(document["permissions"]):
            self.add(
                f"{name}:(top level)",
                f"top-level permissions grant write ({document['permissions']!r}); grant it per job",
                "top-write",
            )
        jobs = document.get("jobs")
        if not isinstance(jobs, dict):
            self.add(f"{name}:(top level)", "no `jobs:` mapping", "yaml")
            return
        for job_id, job in jobs.items():
            where = f"{name}:{job_id}"
            if not isinstance(job, dict):
                self.add(where, "job is not a mapping", "yaml")
                continue
            if "permissions" not in job:
                self.add(where, "job has no `permissions:`", "job-permissions")
            if "uses" in job:  # a reusable workflow call
                self.check_uses(f"{where}:(uses)", str(job["uses"]), comments)
            self.check_steps(where, job.get("steps"), comments)

    def check_action(self, name: str, document: dict[str, Any], comments: dict[str, deque[str | None]]) -> None:
        runs = document.get("runs")
        if isinstance(runs, dict):
            self.check_steps(f"{name}:(composite)", runs.get("steps"), comments)

    def check_steps(self, where: str, steps: Any, comments: dict[str, deque[str | None]]) -> None:
        if not isinstance(steps, list):
            return
        for index, step in enumerate(steps):
            if not isinstance(step, dict):
                continue
            step_where = f"{where}:{step_label(index, step)}"
            if "uses" in step:
                self.check_uses(step_where, str(step["uses"]), comments)
            if isinstance(step.get("run"), str):
                self.check_run(step_where, step["run"])

    def check_uses(self, where: str, uses: str, comments: dict[str, deque[str | None]]) -> None:
        queue = comments.get(uses)
        comment = queue.popleft() if queue else None
        if not is_third_party(uses):
            return
        if not is_pinned(uses):
            self.add(where, f"`{uses}` is not pinned to a full 40-character commit SHA", "unpinned")
        elif not (comment and VERSION_COMMENT.match(comment.strip())):
            self.add(where, f"`{uses}` has no `# vX.Y.Z` comment naming the release", "version-comment")

    def check_run(self, where: str, script: str) -> None:
        for match in XTASK.finditer(script):
            command = match.group(1)
            if command is None or command.startswith("-"):
                continue
            if command not in self.xtask_commands:
                known = ", ".join(sorted(self.xtask_commands))
                self.add(where, f"`cargo xtask {command}` is not an xtask command (known: {known})", "xtask")


def grants_write(permissions: Any) -> bool:
    if isinstance(permissions, str):
        return permissions.strip() == "write-all"
    if isinstance(permissions, dict):
        return any(str(level).strip() == "write" for level in permissions.values())
    return False


def check(root: Path, xtask_commands: set[str]) -> tuple[list[Problem], int]:
    checker = Checker(root, xtask_commands)
    problems = checker.run()
    return problems, checker.files


################################################################################
# Self-test
################################################################################

PIN = "11bd71901bbe5b1630ceea73d27597364c9af683"

GOOD = f"""
name: good
on:
  push:
permissions: {{}}
jobs:
  build:
    runs-on: ubuntu-24.04
    permissions:
      contents: read
    steps:
      - uses: actions/checkout@{PIN} # v4.2.2
      - uses: ./.github/actions/local
      - uses: docker://alpine:3.20
      - name: tests
        run: |
          cargo xtask test
          echo "cargo xtask up runs locally"
  deploy:
    uses: ./.github/workflows/reusable.yml
    permissions:
      contents: read
"""

GOOD_ACTION = f"""
name: local
description: a composite action
runs:
  using: composite
  steps:
    - uses: actions/cache@{PIN} # v4.2.3
    - run: cargo xtask down
      shell: bash
"""

CASES: dict[str, tuple[dict[str, str], set[str]]] = {
    "clean workflow and composite action pass": (
        {".github/workflows/good.yml": GOOD, ".github/actions/local/action.yml": GOOD_ACTION},
        set(),
    ),
    "tag instead of SHA": (
        {".github/workflows/w.yml": GOOD.replace(f"actions/checkout@{PIN} # v4.2.2", "actions/checkout@v4")},
        {"unpinned"},
    ),
    "short SHA": (
        {".github/workflows/w.yml": GOOD.replace(f"actions/checkout@{PIN}", f"actions/checkout@{PIN[:7]}")},
        {"unpinned"},
    ),
    "branch-pinned reusable workflow": (
        {
            ".github/workflows/w.yml": GOOD.replace(
                "uses: ./.github/workflows/reusable.yml", "uses: octo/shared/.github/workflows/deploy.yml@main"
            )
        },
        {"unpinned"},
    ),
    "unpinned step in a composite action": (
        {".github/actions/local/action.yml": GOOD_ACTION.replace(f"actions/cache@{PIN} # v4.2.3", "actions/cache@v4")},
        {"unpinned"},
    ),
    "SHA without a version comment": (
        {".github/workflows/w.yml": GOOD.replace(f"actions/checkout@{PIN} # v4.2.2", f"actions/checkout@{PIN}")},
        {"version-comment"},
    ),
    "unknown xtask command": (
        {".github/workflows/w.yml": GOOD.replace("cargo xtask test", "cargo xtask release --all")},
        {"xtask"},
    ),
    "job without permissions": (
        {
            ".github/workflows/w.yml": GOOD.replace(
                "    runs-on: ubuntu-24.04\n    permissions:\n      contents: read\n", "    runs-on: ubuntu-24.04\n"
            )
        },
        {"job-permissions"},
    ),
    "reusable workflow call without permissions": (
        {
            ".github/workflows/w.yml": GOOD.replace(
                "    uses: ./.github/workflows/reusable.yml\n    permissions:\n      contents: read\n",
                "    uses: ./.github/workflows/reusable.yml\n",
            )
        },
        {"job-permissions"},
    ),
    "no top-level permissions": (
        {".github/workflows/w.yml": GOOD.replace("permissions: {}\n", "")},
        {"top-permissions"},
    ),
    "top-level write permissions": (
        {".github/workflows/w.yml": GOOD.replace("permissions: {}\n", "permissions:\n  contents: write\n")},
        {"top-write"},
    ),
    "everything at once": (
        {
            ".github/workflows/w.yml": textwrap.dedent(
                """
                on: push
                jobs:
                  a:
                    runs-on: ubuntu-24.04
                    steps:
                      - uses: actions/checkout@main
                      - run: cargo xtask ship
                """
            )
        },
        {"top-permissions", "job-permissions", "unpinned", "xtask"},
    ),
}


def self_test() -> int:
    passed = failed = 0
    for title, (files, expected) in CASES.items():
        with tempfile.TemporaryDirectory(prefix="check-workflows-") as tmp:
            root = Path(tmp)
            for relative, content in files.items():
                path = root / relative
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(textwrap.dedent(content).lstrip(), encoding="utf-8")
            problems, _ = check(root, {"up", "down", "test"})
        found = {p.rule for p in problems}
        if found == expected:
            passed += 1
            print(f"ok    {title}: {sorted(found) or 'no problems'}")
        else:
            failed += 1
            print(f"FAIL  {title}: expected {sorted(expected)}, found {sorted(found)}")
            for problem in problems:
                print(f"        {problem}")
    print(f"self-test: {passed} passed, {failed} failed")
    return 1 if failed else 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo-root", type=Path, default=Path("."), help="repository root (default: .)")
    parser.add_argument("--xtask-commands", default=None, help="comma-separated `cargo xtask` subcommands")
    parser.add_argument("--self-test", action="store_true", help="prove each rule catches what it should")
    args = parser.parse_args(argv)
    if args.self_test:
        return self_test()
    if not args.xtask_commands:
        parser.error("--xtask-commands is required (e.g. up,down,test)")
    commands = {c.strip() for c in args.xtask_commands.split(",") if c.strip()}
    root = args.repo_root.resolve()
    problems, files = check(root, commands)
    if files == 0:
        print(f"no workflows under {root}/.github/workflows", file=sys.stderr)
        return 1
    for problem in problems:
        print(problem)
    print(f"workflow check ({files} files): {files - len({p.where.split(':')[0] for p in problems})} passed, "
          f"{len({p.where.split(':')[0] for p in problems})} failed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
