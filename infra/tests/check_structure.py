#!/usr/bin/env python3
"""Static structure checks for the Terraform in infra/ (no provider downloads needed).

Parses every .tf file with python-hcl2 and, for each directory (a Terraform
module or root module), checks that:

  * every variable declares a `type` and a `description`;
  * every call to a local module passes only inputs that module declares;
  * every call passes each module variable that has no default;
  * every reference `module.<name>.<output>` names a module called in that
    directory and an output that module declares.

and that the environment roots keep the layout of issue 18 (one shared
platform module):

  * each environments/<env> root calls only `module "platform"` (source
    ../../modules/platform) and declares no resources of its own;
  * every module call and resource of the old, pre-platform roots
    (OLD_ROOT_ADDRESSES) has a `moved` block from its old address to
    module.platform.<address>, whose target the platform module declares, and
    no moved block is ambiguous or points anywhere else;
  * the root passes every platform variable as var.<same name>, declares it
    with the platform's type, and re-exports every platform output as
    module.platform.<same name>;
  * main.tf, variables.tf, outputs.tf, moved.tf and providers.tf are the same in
    every environment apart from leading comment lines;
  * the roots and the platform module require Terraform >= MIN_TERRAFORM.

Usage:  python infra/tests/check_structure.py [INFRA_DIR] [--old-root OLD_MAIN_TF ...]
        (INFRA_DIR defaults to the directory above this script)

        --old-root parses a main.tf of the old layout (for example
        `git show c2c9d3c:infra/environments/dev/main.tf > /tmp/old-main.tf`)
        and also fails unless its module calls and resources are exactly
        OLD_ROOT_ADDRESSES, which proves the list complete.

Exit status 0 when every check passes, 1 otherwise. The last line reads
"structure check: N passed, N failed".

Works with python-hcl2 4.x (plain keys) and 5.x+ (quoted keys, block markers,
optional SerializationOptions).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    import hcl2
except ImportError:  # pragma: no cover - environment problem, not a check failure
    sys.stderr.write("python-hcl2 is not installed: pip install python-hcl2\n")
    sys.exit(2)

# Arguments of a module block that are Terraform meta-arguments, not inputs.
META_ARGUMENTS = {"source", "version", "count", "for_each", "providers", "depends_on"}

MODULE_REFERENCE = re.compile(r"\bmodule\.([A-Za-z_][A-Za-z0-9_-]*)\.([A-Za-z_][A-Za-z0-9_-]*)")

# Every module call and resource that environments/<env>/main.tf declared
# before the roots were folded into modules/platform (commit c2c9d3c; the old
# roots had no resource blocks, only data sources, which need no move). Each
# must keep a moved block in every environment until every state has been
# migrated; `--old-root` re-derives this list from an old main.tf.
OLD_ROOT_ADDRESSES = (
    "module.network",
    "module.eks",
    "module.rds",
    "module.elasticache",
    "module.mq",
    "module.messaging",
    "module.dynamodb",
    "module.secrets",
    "module.s3",
    "module.iam",
    "module.lambda",
    "module.observability",
    "module.ci",
)
PLATFORM_CALL = "platform"
PLATFORM_SOURCE = "../../modules/platform"
# Files every environment root shares verbatim (apart from leading comments).
SHARED_ROOT_FILES = ("main.tf", "variables.tf", "outputs.tf", "moved.tf", "providers.tf")
# CI runs Terraform 1.9.8; moved blocks need 1.1, output preconditions 1.2.
MIN_TERRAFORM = (1, 9)


def load_tf(path: Path) -> dict[str, Any]:
    """Parse one file into plain dicts, whatever the python-hcl2 version."""
    with path.open(encoding="utf-8") as handle:
        options_type = getattr(hcl2, "SerializationOptions", None)
        if options_type is not None:
            try:
                options = options_type(strip_string_quotes=True, explicit_blocks=False)
                return normalize(hcl2.load(handle, serialization_options=options))
            except TypeError:
                handle.seek(0)
        return normalize(hcl2.load(handle))


def unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def normalize(node: Any) -> Any:
    """Strip quotes from keys and drop parser metadata such as __is_block__."""
    if isinstance(node, dict):
        return {
            unquote(str(key)): normalize(value)
            for key, value in node.items()
            if not (isinstance(key, str) and key.startswith("__") and key.endswith("__"))
        }
    if isinstance(node, list):
        return [normalize(item) for item in node]
    if isinstance(node, str):
        return unquote(node)
    return node


def labelled_blocks(document: dict[str, Any], block_type: str) -> list[tuple[str, dict[str, Any]]]:
    """Return (label, body) for blocks with one label: variable, output, module."""
    found: list[tuple[str, dict[str, Any]]] = []
    blocks = document.get(block_type, [])
    if isinstance(blocks, dict):
        blocks = [blocks]
    for block in blocks:
        if not isinstance(block, dict):
            continue
        for label, body in block.items():
            if isinstance(body, list):  # some versions wrap the body in a list
                body = body[0] if body and isinstance(body[0], dict) else {}
            found.append((label, body if isinstance(body, dict) else {}))
    return found


def resource_blocks(document: dict[str, Any]) -> list[str]:
    """Return "<type>.<name>" for every managed resource block (two labels)."""
    found: list[str] = []
    blocks = document.get("resource", [])
    if isinstance(blocks, dict):
        blocks = [blocks]
    for block in blocks:
        if not isinstance(block, dict):
            continue
        for resource_type, named in block.items():
            if isinstance(named, list):
                named = {k: v for item in named if isinstance(item, dict) for k, v in item.items()}
            if isinstance(named, dict):
                found.extend(f"{resource_type}.{name}" for name in named)
    return found


def expression(value: Any) -> str:
    """The text of an expression, without python-hcl2's ${...} wrapper and quotes."""
    text = str(value).strip()
    if text.startswith("${") and text.endswith("}"):
        text = text[2:-1]
    return re.sub(r"\s+", "", unquote(text))


def strings_in(node: Any):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from strings_in(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings_in(item)


@dataclass
class Variable:
    name: str
    file: Path
    has_type: bool
    has_description: bool
    has_default: bool
    type_text: str = ""


@dataclass
class ModuleCall:
    name: str
    file: Path
    source: str
    inputs: set[str]
    values: dict[str, str] = field(default_factory=dict)


@dataclass
class TfDirectory:
    path: Path
    variables: dict[str, Variable] = field(default_factory=dict)
    outputs: set[str] = field(default_factory=set)
    calls: dict[str, ModuleCall] = field(default_factory=dict)
    # (module name, output name) -> first file that references it
    references: dict[tuple[str, str], Path] = field(default_factory=dict)
    # output name -> its value expression
    output_values: dict[str, str] = field(default_factory=dict)
    resources: dict[str, Path] = field(default_factory=dict)
    # (from, to, file) of every moved block
    moves: list[tuple[str, str, Path]] = field(default_factory=list)
    required_versions: list[tuple[str, Path]] = field(default_factory=list)


class Report:
    def __init__(self) -> None:
        self.passed = 0
        self.failures: list[str] = []

    def check(self, ok: bool, message: str) -> None:
        if ok:
            self.passed += 1
        else:
            self.failures.append(message)


def collect(infra: Path, report: Report) -> dict[Path, TfDirectory]:
    directories: dict[Path, TfDirectory] = {}
    for tf_file in sorted(infra.rglob("*.tf")):
        if ".terraform" in tf_file.parts:
            continue
        directory = directories.setdefault(tf_file.parent.resolve(), TfDirectory(tf_file.parent.resolve()))
        try:
            document = load_tf(tf_file)
        except Exception as error:  # the parser raises various lark errors
            report.check(False, f"{rel(tf_file, infra)}: cannot be parsed: {error}")
            continue
        report.check(True, "")

        for name, body in labelled_blocks(document, "variable"):
            directory.variables[name] = Variable(
                name=name,
                file=tf_file,
                has_type="type" in body,
                has_description=bool(body.get("description")),
                has_default="default" in body,
                type_text=expression(body.get("type", "")),
            )
        for name, body in labelled_blocks(document, "output"):
            directory.outputs.add(name)
            directory.output_values[name] = expression(body.get("value", ""))
        for name, body in labelled_blocks(document, "module"):
            directory.calls[name] = ModuleCall(
                name=name,
                file=tf_file,
                source=str(body.get("source", "")),
                inputs={key for key in body if key not in META_ARGUMENTS},
                values={key: expression(value) for key, value in body.items() if key not in META_ARGUMENTS},
            )
        for address in resource_blocks(document):
            directory.resources.setdefault(address, tf_file)
        moved = document.get("moved", [])
        for block in moved if isinstance(moved, list) else [moved]:
            if isinstance(block, dict):
                directory.moves.append((expression(block.get("from", "")), expression(block.get("to", "")), tf_file))
        terraform_blocks = document.get("terraform", [])
        for block in terraform_blocks if isinstance(terraform_blocks, list) else [terraform_blocks]:
            if isinstance(block, dict) and "required_version" in block:
                directory.required_versions.append((str(block["required_version"]), tf_file))
        # moved blocks hold addresses (module.platform.module.network), not references
        for text in strings_in({key: value for key, value in document.items() if key != "moved"}):
            for module_name, output_name in MODULE_REFERENCE.findall(text):
                directory.references.setdefault((module_name, output_name), tf_file)
    return directories


def rel(path: Path, infra: Path) -> str:
    try:
        return str(path.resolve().relative_to(infra.resolve().parent))
    except ValueError:
        return str(path)


def lower_bound(constraint: str) -> tuple[int, int] | None:
    """Smallest (major, minor) a required_version constraint admits, if it says."""
    bounds = [
        (int(major), int(minor or 0))
        for major, minor in re.findall(r"(?:>=|~>|(?<![<>!])=|^|,)\s*v?(\d+)(?:\.(\d+))?", constraint)
    ]
    return max(bounds) if bounds else None


def leading_comments_stripped(path: Path) -> str:
    lines = path.read_text(encoding="utf-8").splitlines()
    while lines and (lines[0].startswith("#") or not lines[0].strip()):
        lines.pop(0)
    return "\n".join(lines)


def check_environments(infra: Path, directories: dict[Path, TfDirectory], report: Report) -> None:
    environments = sorted(p for p in directories if p.parent == (infra / "environments").resolve())
    report.check(bool(environments), "infra/environments: no environment roots found")
    platform = directories.get((infra / "modules" / "platform").resolve())
    report.check(platform is not None, "infra/modules/platform: no .tf files")
    if platform is None:
        return

    def check_required_version(directory: TfDirectory) -> None:
        for constraint, tf_file in directory.required_versions or [("(none)", directory.path)]:
            bound = lower_bound(constraint)
            report.check(
                bound is not None and bound >= MIN_TERRAFORM,
                f"{rel(tf_file, infra)}: required_version \"{constraint}\" admits Terraform older than "
                f"{MIN_TERRAFORM[0]}.{MIN_TERRAFORM[1]} (CI runs 1.9.8)",
            )

    where_platform = rel(infra / "modules" / "platform", infra)
    check_required_version(platform)
    for env in environments:
        root = directories[env]
        name = rel(env, infra)
        check_required_version(root)

        report.check(
            set(root.calls) == {PLATFORM_CALL},
            f"{name}: must call only module \"{PLATFORM_CALL}\", calls {sorted(root.calls)}",
        )
        # a resource directly in an environment root would bypass the shared module
        for address, tf_file in sorted(root.resources.items()):
            report.check(False, f"{rel(tf_file, infra)}: resource {address} belongs in {where_platform}")
        call = root.calls.get(PLATFORM_CALL)
        if call is not None:
            report.check(
                call.source == PLATFORM_SOURCE,
                f"{name}: module \"{PLATFORM_CALL}\" has source {call.source}, not {PLATFORM_SOURCE}",
            )
            for variable in sorted(platform.variables.values(), key=lambda v: v.name):
                passed = call.values.get(variable.name)
                report.check(
                    passed == f"var.{variable.name}",
                    f"{name}: module \"{PLATFORM_CALL}\" must pass {variable.name} = var.{variable.name} "
                    f"(passes {passed})",
                )
                declared = root.variables.get(variable.name)
                report.check(
                    declared is not None and declared.type_text == variable.type_text,
                    f"{name}: variable \"{variable.name}\" must be declared with the platform's type "
                    f"{variable.type_text}",
                )
                # required stays required: a root default (null) would hide a missing tfvars value
                report.check(
                    declared is None or declared.has_default == variable.has_default,
                    f"{name}: variable \"{variable.name}\" must "
                    + ("default to null (the platform has a default)" if variable.has_default else "have no default (the platform requires it)"),
                )
        for output in sorted(platform.outputs):
            report.check(
                root.output_values.get(output) == f"module.{PLATFORM_CALL}.{output}",
                f"{name}: output \"{output}\" must re-export module.{PLATFORM_CALL}.{output}",
            )

        # moved blocks: every old root address moves to the same address inside the platform
        moves_from: dict[str, list[tuple[str, Path]]] = {}
        for source, target, tf_file in root.moves:
            moves_from.setdefault(source, []).append((target, tf_file))
        for old in OLD_ROOT_ADDRESSES:
            expected = f"module.{PLATFORM_CALL}.{old}"
            found = moves_from.get(old, [])
            report.check(
                [target for target, _ in found] == [expected],
                f"{name}: old root address {old} needs exactly one moved block to {expected} "
                f"(found {[target for target, _ in found] or 'none'})",
            )
        targets_seen: set[str] = set()
        for source, target, tf_file in root.moves:
            where = f"{rel(tf_file, infra)}: moved {source} -> {target}"
            report.check(source in OLD_ROOT_ADDRESSES, f"{where}: {source} is not an address of the old root")
            report.check(target not in targets_seen, f"{where}: another moved block has the same target")
            targets_seen.add(target)
            prefix = f"module.{PLATFORM_CALL}."
            inner = target[len(prefix):] if target.startswith(prefix) else ""
            exists = (
                inner.startswith("module.") and inner[len("module."):] in platform.calls
            ) or (not inner.startswith("module.") and inner in platform.resources)
            report.check(exists, f"{where}: {where_platform} declares no {inner or target}")

    # the roots are copies of one another apart from their header comments
    for file_name in SHARED_ROOT_FILES:
        texts = {}
        for env in environments:
            path = env / file_name
            report.check(path.is_file(), f"{rel(path, infra)}: missing")
            if path.is_file():
                texts[env] = leading_comments_stripped(path)
        if texts:
            # compare with the version most environments have, so one odd file is the one named
            versions = list(texts.values())
            reference = max(versions, key=versions.count)
            others = [rel(env / file_name, infra) for env, text in texts.items() if text == reference]
            for env, text in texts.items():
                report.check(
                    text == reference,
                    f"{rel(env / file_name, infra)}: differs from {', '.join(others)} beyond its header "
                    "comment (put per-environment values in terraform.tfvars)",
                )


def check_old_root(old_main: Path, report: Report) -> None:
    """The module calls and resources of an old-layout main.tf are exactly OLD_ROOT_ADDRESSES."""
    document = load_tf(old_main)
    addresses = {f"module.{name}" for name, _ in labelled_blocks(document, "module")}
    addresses |= set(resource_blocks(document))
    missing = sorted(addresses - set(OLD_ROOT_ADDRESSES))
    extra = sorted(set(OLD_ROOT_ADDRESSES) - addresses)
    report.check(not missing, f"{old_main}: addresses missing from OLD_ROOT_ADDRESSES: {missing}")
    report.check(not extra, f"{old_main}: OLD_ROOT_ADDRESSES lists addresses it does not declare: {extra}")
    state = "exactly OLD_ROOT_ADDRESSES" if not missing else f"{len(missing)} not in OLD_ROOT_ADDRESSES"
    print(f"old root {old_main}: {len(addresses)} module/resource addresses, {state}")


def run(infra: Path, old_roots: list[Path] | None = None) -> Report:
    report = Report()
    directories = collect(infra, report)
    check_environments(infra, directories, report)
    for old_main in old_roots or []:
        check_old_root(old_main, report)

    for directory in directories.values():
        for variable in directory.variables.values():
            where = f"{rel(variable.file, infra)}: variable \"{variable.name}\""
            report.check(variable.has_type, f"{where} has no type")
            report.check(variable.has_description, f"{where} has no description")

        for call in directory.calls.values():
            where = f"{rel(call.file, infra)}: module \"{call.name}\""
            if not call.source.startswith(("./", "../")):
                continue  # registry/git modules are not checked here
            target = (directory.path / call.source).resolve()
            callee = directories.get(target)
            report.check(callee is not None, f"{where}: source {call.source} has no .tf files")
            if callee is None:
                continue
            for name in sorted(call.inputs):
                report.check(
                    name in callee.variables,
                    f"{where}: passes \"{name}\", which {call.source} does not declare",
                )
            for variable in sorted(callee.variables.values(), key=lambda v: v.name):
                if variable.has_default:
                    continue
                report.check(
                    variable.name in call.inputs,
                    f"{where}: omits required variable \"{variable.name}\" of {call.source}",
                )

        for (module_name, output_name), tf_file in sorted(directory.references.items()):
            where = f"{rel(tf_file, infra)}: module.{module_name}.{output_name}"
            call = directory.calls.get(module_name)
            report.check(call is not None, f"{where}: no module \"{module_name}\" is called here")
            if call is None or not call.source.startswith(("./", "../")):
                continue
            callee = directories.get((directory.path / call.source).resolve())
            if callee is None:
                continue  # already reported above
            report.check(
                output_name in callee.outputs,
                f"{where}: {call.source} declares no output \"{output_name}\"",
            )
    return report


def main(argv: list[str]) -> int:
    args = argv[1:]
    old_roots: list[Path] = []
    while "--old-root" in args:
        index = args.index("--old-root")
        if index + 1 >= len(args):
            sys.stderr.write("--old-root needs a file\n")
            return 2
        old_roots.append(Path(args[index + 1]))
        del args[index : index + 2]
    infra = Path(args[0]) if args else Path(__file__).resolve().parent.parent
    if not infra.is_dir():
        sys.stderr.write(f"{infra} is not a directory\n")
        return 2
    report = run(infra, old_roots)
    for failure in report.failures:
        print(f"FAIL {failure}")
    tf_count = sum(1 for p in infra.rglob("*.tf") if ".terraform" not in p.parts)
    print(
        f"structure check ({tf_count} files, python-hcl2 {getattr(hcl2, '__version__', '?')}): "
        f"{report.passed} passed, {len(report.failures)} failed"
    )
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
