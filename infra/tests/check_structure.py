#!/usr/bin/env python3
"""Static structure checks for the Terraform in infra/ (no provider downloads needed).

Parses every .tf file with python-hcl2 and, for each directory (a Terraform
module or root module), checks that:

  * every variable declares a `type` and a `description`;
  * every call to a local module passes only inputs that module declares;
  * every call passes each module variable that has no default;
  * every reference `module.<name>.<output>` names a module called in that
    directory and an output that module declares.

Usage:  python infra/tests/check_structure.py [INFRA_DIR]
        (INFRA_DIR defaults to the directory above this script)

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


@dataclass
class ModuleCall:
    name: str
    file: Path
    source: str
    inputs: set[str]


@dataclass
class TfDirectory:
    path: Path
    variables: dict[str, Variable] = field(default_factory=dict)
    outputs: set[str] = field(default_factory=set)
    calls: dict[str, ModuleCall] = field(default_factory=dict)
    # (module name, output name) -> first file that references it
    references: dict[tuple[str, str], Path] = field(default_factory=dict)


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
            )
        for name, _ in labelled_blocks(document, "output"):
            directory.outputs.add(name)
        for name, body in labelled_blocks(document, "module"):
            directory.calls[name] = ModuleCall(
                name=name,
                file=tf_file,
                source=str(body.get("source", "")),
                inputs={key for key in body if key not in META_ARGUMENTS},
            )
        for text in strings_in(document):
            for module_name, output_name in MODULE_REFERENCE.findall(text):
                directory.references.setdefault((module_name, output_name), tf_file)
    return directories


def rel(path: Path, infra: Path) -> str:
    try:
        return str(path.resolve().relative_to(infra.resolve().parent))
    except ValueError:
        return str(path)


def run(infra: Path) -> Report:
    report = Report()
    directories = collect(infra, report)

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
    infra = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent
    if not infra.is_dir():
        sys.stderr.write(f"{infra} is not a directory\n")
        return 2
    report = run(infra)
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
