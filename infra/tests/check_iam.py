#!/usr/bin/env python3
"""IAM cross-check: every AWS SDK call in the Rust code is granted to exactly
the role of the workload that makes it, and every granted action has a call.

How it works (no provider downloads, no cargo build):

1. Operations.  Each aws-sdk-<service> crate names its operations by the
   directories under src/operation/ (send_message, get_item, ...). They are
   read from the cargo registry (CARGO_HOME, default ~/.cargo) for the crates
   the workspace uses; a built-in table covers the operations used today when
   the registry is missing.  A snake_case operation maps to the IAM action
   <prefix>:<PascalCase> (sqs:SendMessage), with the few exceptions AWS
   documents (PublishBatch is authorized as sns:Publish, TransactWriteItems
   as the Put/Update/Delete/ConditionCheck it contains, sesv2 as ses:, ...).

2. Calls.  In every crate under functions/ and core-services/ (src/ only,
   without comments and #[cfg(test)] modules), a call is `.op()` on a client
   followed by `.send()` in the same expression; the client's crate is the
   aws-sdk-* dependency of that crate that has the operation.

3. Workloads.  A workload is a crate with src/main.rs (a Lambda function or
   an EKS service).  It makes the calls in its own src/ and those of the
   library functions it calls: a method of a library type (webhooks::Store,
   function_kit::idempotency::Claims) counts when the workload calls it on a
   field or variable of that type; a free library function counts when the
   workload calls it through its module path (aws::secret_string(...)).
   Calls between functions of one library are followed to a fixpoint.

4. Grants.  Functions: the policy documents of infra/modules/iam/functions.tf
   (by locals.function_policies) plus the lambda module's runtime policy.
   Services: infra/modules/iam/services.tf, statements selected by
   `each.key == "<service>"` (or all services when there is no such test).
   A document's source_policy_documents and override_policy_documents (other
   policy documents of the same file) grant what their statements grant.
   Deny statements grant nothing.  KMS actions limited by kms:ViaService to
   a service are implied by a call of the workload to that service.

The check fails (exit 1) on a call without a grant and on a grant without a
call, except for the actions in ALLOWLIST (runtime needs without an SDK call
in our code, each with its reason).

Usage:
    python infra/tests/check_iam.py [--root REPO]     run the check
    python infra/tests/check_iam.py --self-test       plant a missing grant and
        an unused grant in a temporary copy and show the check catches each
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

try:
    import hcl2
except ImportError:  # pragma: no cover - environment problem, not a check failure
    sys.stderr.write("python-hcl2 is not installed: pip install python-hcl2\n")
    sys.exit(2)

REPO = Path(__file__).resolve().parents[2]
CODE_ROOTS = ("functions", "core-services")

# aws-sdk crate suffix -> IAM service prefix.
IAM_PREFIX = {
    "dynamodb": "dynamodb",
    "sqs": "sqs",
    "sns": "sns",
    "sesv2": "ses",
    "secretsmanager": "secretsmanager",
    "lambda": "lambda",
    "sts": "sts",
    "s3": "s3",
}

# Operations whose IAM action is not <prefix>:<PascalCase(op)>.
ACTION_EXCEPTIONS = {
    ("sns", "publish_batch"): ["sns:Publish"],
    ("sqs", "send_message_batch"): ["sqs:SendMessage"],
    ("sqs", "delete_message_batch"): ["sqs:DeleteMessage"],
    ("sqs", "change_message_visibility_batch"): ["sqs:ChangeMessageVisibility"],
    ("lambda", "invoke"): ["lambda:InvokeFunction"],
    ("dynamodb", "transact_get_items"): ["dynamodb:GetItem"],
    ("dynamodb", "batch_get_item"): ["dynamodb:BatchGetItem"],
    # TransactWriteItems is authorized per contained write: see transact_actions().
}

# Fallback when the cargo registry is not available: the operations of the
# crates the workspace uses that our code calls or might plausibly call.
BUILTIN_OPERATIONS = {
    "dynamodb": "get_item put_item update_item delete_item query scan batch_get_item batch_write_item "
    "transact_get_items transact_write_items describe_table create_table",
    "sqs": "send_message send_message_batch receive_message delete_message delete_message_batch "
    "change_message_visibility change_message_visibility_batch get_queue_url get_queue_attributes "
    "set_queue_attributes create_queue delete_queue purge_queue list_queues",
    "sns": "publish publish_batch get_topic_attributes create_topic subscribe unsubscribe "
    "list_topics set_subscription_attributes",
    "sesv2": "send_email create_email_identity get_account",
    "secretsmanager": "get_secret_value put_secret_value create_secret delete_secret describe_secret "
    "update_secret tag_resource list_secrets",
    "lambda": "invoke get_function list_functions",
    "sts": "get_caller_identity assume_role",
}

# Actions a role needs without an SDK call in our code. Keys: "function" (every
# Lambda function), "service" (every EKS service) or a workload name.
ALLOWLIST: dict[str, dict[str, str]] = {
    "function": {
        # The Lambda runtime writes the function's stdout to its log group.
        "logs:CreateLogStream": "Lambda writes the function's logs with the execution role",
        "logs:PutLogEvents": "Lambda writes the function's logs with the execution role",
        # Active tracing: Lambda submits the segments with the execution role.
        "xray:PutTraceSegments": "tracing_config Active: Lambda submits trace segments",
        "xray:PutTelemetryRecords": "tracing_config Active: Lambda submits telemetry records",
        # The environment variables are encrypted with the lambda module's key.
        "kms:Decrypt": "Lambda decrypts the function's environment (kms_key_arn) and SQS/Secrets Manager data (ViaService)",
        # The SQS event source mapping polls with the execution role.
        "sqs:ReceiveMessage": "SQS event source mapping polls the source queue with the execution role",
        "sqs:DeleteMessage": "SQS event source mapping deletes the processed records",
        "sqs:GetQueueAttributes": "SQS event source mapping reads the queue's attributes",
        # VPC functions: Lambda manages their ENIs with the execution role.
        "ec2:CreateNetworkInterface": "Lambda creates the function's ENIs in the VPC",
        "ec2:DeleteNetworkInterface": "Lambda deletes the function's ENIs",
        "ec2:AssignPrivateIpAddresses": "Lambda manages the ENIs' addresses",
        "ec2:UnassignPrivateIpAddresses": "Lambda manages the ENIs' addresses",
        "ec2:DescribeNetworkInterfaces": "Lambda describes the function's ENIs",
        "ec2:DescribeSubnets": "Lambda describes the function's subnets",
    },
    "service": {
        # External Secrets syncs each service's secrets with the service's own
        # role (one SecretStore per service account), not the Rust code.
        "secretsmanager:GetSecretValue": "External Secrets reads the service's secrets with its IRSA role",
        "secretsmanager:DescribeSecret": "External Secrets reads the secrets' metadata with the service's IRSA role",
        "kms:Decrypt": "decrypts the secrets External Secrets reads (kms:ViaService secretsmanager)",
    },
    "webhook-admin": {
        # CreateSecret with tags (the subscription id) needs TagResource too.
        "secretsmanager:TagResource": "CreateSecret with .tags(...) is also authorized as TagResource",
    },
}

SERVICE_NAMES = {"gateway", "catalog", "inventory", "orders", "payments", "users", "bridge"}


def load_tf(path: Path) -> dict:
    with path.open(encoding="utf-8") as handle:
        options = getattr(hcl2, "SerializationOptions", None)
        if options is not None:
            return hcl2.load(handle, serialization_options=options(strip_string_quotes=True, explicit_blocks=False))
        return hcl2.load(handle)


def unquote(value):
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def as_list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def pascal(op: str) -> str:
    return "".join(part.capitalize() for part in op.split("_"))


# --------------------------------------------------------------------------
# Operations of the aws-sdk crates
# --------------------------------------------------------------------------


def sdk_operations() -> dict[str, set[str]]:
    """crate suffix -> operation names (snake_case)."""
    cargo_home = Path(os.environ.get("CARGO_HOME", Path.home() / ".cargo"))
    found: dict[str, set[str]] = {}
    for registry in (cargo_home / "registry" / "src").glob("*"):
        for crate in registry.glob("aws-sdk-*"):
            match = re.fullmatch(r"aws-sdk-([a-z0-9]+)-\d+\.\d+\.\d+.*", crate.name)
            if not match or match.group(1) not in IAM_PREFIX:
                continue
            ops = {p.name for p in (crate / "src" / "operation").glob("*") if p.is_dir()}
            found.setdefault(match.group(1), set()).update(ops)
    for service, ops in BUILTIN_OPERATIONS.items():
        found.setdefault(service, set()).update(ops.split())
    return found


# --------------------------------------------------------------------------
# Rust sources
# --------------------------------------------------------------------------


def strip_rust(text: str) -> str:
    """Remove comments and #[cfg(test)] modules, keeping offsets irrelevant."""
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"(?m)//.*$", "", text)
    while True:
        match = re.search(r"#\[cfg\(test\)\]\s*(pub\s+)?mod\s+\w+\s*\{", text)
        if not match:
            return text
        depth, i = 1, match.end()
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        text = text[: match.start()] + text[i:]


def sends(text: str, start: int) -> tuple[bool, int]:
    """From just after `.op()`, does the expression reach `.send()` at depth 0?"""
    depth, i = 0, start
    while i < len(text):
        c = text[i]
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth < 0:
                return False, i
        elif c == ";" and depth == 0:
            return False, i
        elif depth == 0 and text.startswith(".send()", i):
            return True, i
        elif depth == 0 and re.match(r"\.\s*send\s*\(\s*\)", text[i:]):
            return True, i
        i += 1
    return False, i


def sent_later(text: str, start: int, end: int) -> bool:
    """`let mut x = client.op()...;` and, later in the function, `x....send()`."""
    statement_start = max(text.rfind(";", 0, start), text.rfind("{", 0, start), text.rfind("}", 0, start)) + 1
    binding = re.match(r"\s*let\s+(?:mut\s+)?([a-z_]\w*)\s*(?::[^=]+)?=", text[statement_start:start])
    if not binding:
        return False
    next_fn = FN_RE.search(text, end)
    rest = text[end : next_fn.start() if next_fn else len(text)]
    return re.search(rf"\b{binding.group(1)}\b[^;]*?\.\s*send\s*\(\s*\)", rest) is not None


@dataclass
class Call:
    service: str  # crate suffix
    op: str
    where: str  # file:line
    segment: str  # text of the builder chain

    def actions(self) -> list[str]:
        if (self.service, self.op) in ACTION_EXCEPTIONS:
            return ACTION_EXCEPTIONS[(self.service, self.op)]
        if (self.service, self.op) == ("dynamodb", "transact_write_items"):
            return transact_actions(self.segment)
        return [f"{IAM_PREFIX[self.service]}:{pascal(self.op)}"]


def transact_actions(segment: str) -> list[str]:
    # The writes are usually built elsewhere (TransactWriteItem::builder().put(...)):
    # the caller's crate is searched too (see Crate.transact_kinds).
    return ["dynamodb:TransactWriteItems"]


@dataclass
class Crate:
    name: str
    path: Path
    is_workload: bool
    sdk_deps: set[str] = field(default_factory=set)
    deps: set[str] = field(default_factory=set)
    text: dict[Path, str] = field(default_factory=dict)
    # (impl type or None, fn name) -> calls directly in it
    fn_calls: dict[tuple[str | None, str], list[Call]] = field(default_factory=dict)
    fn_module: dict[tuple[str | None, str], str] = field(default_factory=dict)
    fn_body: dict[tuple[str | None, str], str] = field(default_factory=dict)


def cargo_deps(manifest: str) -> set[str]:
    deps, section = set(), ""
    for line in manifest.splitlines():
        header = re.match(r"^\s*\[([^\]]+)\]", line)
        if header:
            section = header.group(1).strip()
            continue
        if section in ("dependencies", "target.'cfg(not(test))'.dependencies"):
            key = re.match(r"^\s*([A-Za-z0-9_-]+)\s*=", line)
            if key:
                deps.add(key.group(1))
    return deps


def load_crates(root: Path, operations: dict[str, set[str]]) -> dict[str, Crate]:
    crates: dict[str, Crate] = {}
    for base in CODE_ROOTS:
        for manifest_path in sorted((root / base).glob("*/Cargo.toml")):
            directory = manifest_path.parent
            manifest = manifest_path.read_text(encoding="utf-8")
            name_match = re.search(r'(?m)^name\s*=\s*"([^"]+)"', manifest)
            name = name_match.group(1) if name_match else directory.name
            crate = Crate(
                name=directory.name,
                path=directory,
                is_workload=(directory / "src" / "main.rs").exists(),
            )
            deps = cargo_deps(manifest)
            crate.deps = {d.replace("-", "_") for d in deps}
            crate.sdk_deps = {d[len("aws-sdk-") :] for d in deps if d.startswith("aws-sdk-")}
            for source in sorted((directory / "src").rglob("*.rs")):
                crate.text[source] = strip_rust(source.read_text(encoding="utf-8"))
            crates[name.replace("-", "_")] = crate
            scan_calls(crate, operations)
    return crates


FN_RE = re.compile(r"\bfn\s+([a-z_][a-z0-9_]*)")
IMPL_RE = re.compile(r"\bimpl(?:\s*<[^>]*>)?\s+(?:[\w:]+\s+for\s+)?([A-Z]\w*)")
OP_RE = re.compile(r"\.\s*([a-z_][a-z0-9_]*)\s*\(\s*\)")


def enclosing(text: str, position: int) -> tuple[str | None, str]:
    fns = [m for m in FN_RE.finditer(text, 0, position)]
    fn_name = fns[-1].group(1) if fns else "<top>"
    impl_type = None
    for m in IMPL_RE.finditer(text, 0, position):
        # the impl block still open at position?
        depth, i = 0, text.find("{", m.end())
        if i < 0 or i > position:
            continue
        j = i
        while j < position:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
            if depth == 0:
                break
        if depth > 0:
            impl_type = m.group(1)
    return impl_type, fn_name


def scan_calls(crate: Crate, operations: dict[str, set[str]]) -> None:
    for source, text in crate.text.items():
        # Function bodies, for calls between library functions.
        for m in FN_RE.finditer(text):
            key = enclosing(text, m.end())
            crate.fn_module.setdefault(key, source.stem)
            body_start = text.find("{", m.end())
            if body_start < 0:
                continue
            depth, i = 0, body_start
            while i < len(text):
                depth += {"{": 1, "}": -1}.get(text[i], 0)
                i += 1
                if depth == 0:
                    break
            crate.fn_body[key] = crate.fn_body.get(key, "") + text[body_start:i]
        for m in OP_RE.finditer(text):
            op = m.group(1)
            candidates = sorted(s for s in crate.sdk_deps if op in operations.get(s, set()))
            if not candidates:
                continue
            ok, end = sends(text, m.end())
            if not ok and end < len(text) and text[end] == ";":
                ok = sent_later(text, m.start(), end)
            if not ok:
                continue
            line = text.count("\n", 0, m.start()) + 1
            where = f"{source.relative_to(crate.path.parents[1])}:{line}"
            if len(candidates) > 1:
                raise SystemExit(
                    f"iam check: cannot tell which SDK crate `.{op}()` at {where} belongs to "
                    f"({', '.join(candidates)}): give the client a crate-specific name or extend the check"
                )
            call = Call(candidates[0], op, where, text[m.start() : end])
            crate.fn_calls.setdefault(enclosing(text, m.start()), []).append(call)


def transact_kinds(text: str) -> list[str]:
    kinds = []
    for builder, action in (
        ("put", "PutItem"),
        ("update", "UpdateItem"),
        ("delete", "DeleteItem"),
        ("condition_check", "ConditionCheckItem"),
    ):
        if re.search(rf"TransactWriteItem::builder\(\)\s*\.\s*{builder}\s*\(", text) or re.search(
            rf"\b{pascal(builder)}::builder\(\)", text
        ):
            kinds.append(f"dynamodb:{action}")
    return kinds


def library_closure(crate: Crate) -> dict[tuple[str | None, str], list[Call]]:
    """Calls of each library function including the library functions it calls."""
    closure = {k: list(v) for k, v in crate.fn_calls.items()}
    changed = True
    while changed:
        changed = False
        for key, body in crate.fn_body.items():
            for other, calls in list(closure.items()):
                if other == key or not calls:
                    continue
                impl_type, name = other
                pattern = rf"(\bself\s*\.\s*{name}\s*\(|\b{impl_type}::{name}\s*\()" if impl_type else rf"\b{name}\s*\("
                if re.search(pattern, body):
                    mine = closure.setdefault(key, [])
                    for call in calls:
                        if call not in mine:
                            mine.append(call)
                            changed = True
    return closure


def workload_calls(workload: Crate, crates: dict[str, Crate]) -> list[Call]:
    text = "\n".join(workload.text.values())
    calls = [c for cs in workload.fn_calls.values() for c in cs]
    for dep in sorted(workload.deps):
        library = crates.get(dep)
        if library is None or library.is_workload:
            continue
        for (impl_type, name), lib_calls in library_closure(library).items():
            if not lib_calls:
                continue
            if impl_type:
                receivers = set(
                    re.findall(
                        rf"\b([a-z_]\w*)\s*:\s*(?:&\s*)?(?:mut\s+)?(?:(?:Arc|Option|Box)\s*<\s*)*(?:[\w:]+::)?{impl_type}\b",
                        text,
                    )
                )
                patterns = [rf"\b{impl_type}::{name}\s*\("] + [
                    rf"\b{re.escape(r)}\s*\.\s*{name}\s*\(" for r in receivers
                ]
            else:
                module = library.fn_module.get((None, name), "lib")
                patterns = [rf"\b{module}::{name}\s*\("]
                if re.search(rf"use\s+[\w:]*{module}::(\{{[^}}]*\b{name}\b[^}}]*\}}|{name}\b)", text):
                    patterns.append(rf"(?<![\w.:]){name}\s*\(")
            if any(re.search(p, text) for p in patterns):
                calls.extend(lib_calls)
    return calls


def called_actions(workload: Crate, crates: dict[str, Crate]) -> dict[str, list[str]]:
    """IAM action -> where it is called."""
    actions: dict[str, list[str]] = {}
    for call in workload_calls(workload, crates):
        names = call.actions()
        if names == ["dynamodb:TransactWriteItems"]:
            owner = next(c for c in crates.values() if str(call.where).startswith(f"{c.path.parent.name}/{c.path.name}/"))
            names = transact_kinds("\n".join(owner.text.values())) or ["dynamodb:PutItem"]
        for action in names:
            actions.setdefault(action, []).append(call.where)
    return actions


# --------------------------------------------------------------------------
# Terraform grants
# --------------------------------------------------------------------------


@dataclass
class Grant:
    action: str
    sid: str
    via: str | None  # kms:ViaService service (secretsmanager, sqs, ...)
    where: str


def statements(document: dict) -> list[tuple[dict, str | None]]:
    """(statement, for_each expression of its dynamic block or None)."""
    found = [(s, None) for s in as_list(document.get("statement"))]
    for dynamic in as_list(document.get("dynamic")):
        for label, block in dynamic.items():
            if unquote(label) != "statement":
                continue
            for body in as_list(block):
                for content in as_list(body.get("content")):
                    found.append((content, str(body.get("for_each", ""))))
    return found


INCLUDED_DOCUMENT_RE = re.compile(r"^(?:\$\{)?data\.aws_iam_policy_document\.(\w+)\.json\}?$")


def included_documents(document: dict, where: str) -> list[str]:
    """Names of the documents merged into this one (source_ and override_policy_documents).

    Their statements count as grants of this document; an override replacing a
    statement of the same sid is counted as an addition (more grants, never
    fewer: a grant it hides is reported unused, a call it serves is not missed).
    """
    names = []
    for argument in ("source_policy_documents", "override_policy_documents"):
        for reference in as_list(document.get(argument)):
            match = INCLUDED_DOCUMENT_RE.match(str(reference).strip())
            if not match:
                # e.g. data.aws_iam_policy_document.x[each.key].json or a jsonencode(...):
                # which statements it adds depends on values this check does not evaluate.
                raise SystemExit(
                    f"iam check: cannot follow {argument} entry {reference} in {where}: "
                    "reference a data.aws_iam_policy_document.<name>.json of the same file or extend the check"
                )
            names.append(match.group(1))
    return names


def grants_of(
    document: dict, where: str, documents: dict[str, dict] | None = None, _seen: tuple[str, ...] = ()
) -> list[tuple[Grant, str | None]]:
    """Grants of a policy document, with those of the documents merged into it
    (looked up in `documents`, the policy documents of the same file)."""
    result = []
    for name in included_documents(document, where):
        if documents is None or name not in documents:
            raise SystemExit(f"iam check: {where} merges data.aws_iam_policy_document.{name}, not found in that file")
        if name in _seen:
            raise SystemExit(f"iam check: {where}: data.aws_iam_policy_document.{name} includes itself")
        result.extend(grants_of(documents[name], f"{where} ({name}, merged in)", documents, _seen + (name,)))
    for statement, for_each in statements(document):
        if unquote(statement.get("effect", "Allow")) == "Deny":
            continue
        via = None
        for condition in as_list(statement.get("condition")):
            if unquote(condition.get("variable")) == "kms:ViaService":
                match = re.search(r"via\.(\w+)|([a-z0-9]+)\.\$\{", str(condition.get("values")))
                via = (match.group(1) or match.group(2)) if match else "?"
        for action in as_list(statement.get("actions")):
            result.append((Grant(unquote(action), unquote(statement.get("sid", "?")), via, where), for_each))
    return result


def policy_documents(path: Path) -> dict[str, dict]:
    documents = {}
    for block in as_list(load_tf(path).get("data")):
        for kind, named in block.items():
            if unquote(kind) != "aws_iam_policy_document":
                continue
            for name, body in named.items():
                documents[unquote(name)] = body
    return documents


def function_grants(root: Path) -> tuple[dict[str, list[Grant]], list[Grant]]:
    """(business + runtime grants per function with a policy, runtime grants alone)."""
    iam = root / "infra" / "modules" / "iam" / "functions.tf"
    runtime_tf = root / "infra" / "modules" / "lambda" / "main.tf"
    documents = policy_documents(iam)
    mapping = {}
    for block in as_list(load_tf(iam).get("locals")):
        for function, reference in (block.get("function_policies") or {}).items():
            match = re.search(r"aws_iam_policy_document\.(\w+)\.json", str(reference))
            if match:
                mapping[unquote(function)] = match.group(1)
    runtime_documents = policy_documents(runtime_tf)
    runtime = [g for g, _ in grants_of(runtime_documents["runtime"], "infra/modules/lambda/main.tf", runtime_documents)]
    grants = {}
    for function, document in mapping.items():
        grants[function] = [
            g for g, _ in grants_of(documents[document], "infra/modules/iam/functions.tf", documents)
        ] + runtime
    return grants, runtime


def service_grants(root: Path) -> dict[str, list[Grant]]:
    path = root / "infra" / "modules" / "iam" / "services.tf"
    documents = policy_documents(path)
    grants: dict[str, list[Grant]] = {s: [] for s in SERVICE_NAMES}
    for grant, for_each in grants_of(documents["service"], "infra/modules/iam/services.tf", documents):
        selected = re.findall(r'each\.key\s*==\s*\\?"([a-z-]+)\\?"', for_each or "")
        for service in selected or SERVICE_NAMES:
            grants.setdefault(service, []).append(grant)
    return grants


# --------------------------------------------------------------------------
# The check
# --------------------------------------------------------------------------


def allowed(workload: str, kind: str, action: str) -> str | None:
    return ALLOWLIST.get(workload, {}).get(action) or ALLOWLIST.get(kind, {}).get(action)


def run(root: Path, out=sys.stdout) -> int:
    operations = sdk_operations()
    crates = load_crates(root, operations)
    function_policies, runtime = function_grants(root)
    grants = {**function_policies, **service_grants(root)}
    failures: list[str] = []
    checked = 0
    workloads = sorted((c for c in crates.values() if c.is_workload), key=lambda c: c.name)
    for workload in workloads:
        kind = "service" if workload.path.parent.name == "core-services" else "function"
        calls = called_actions(workload, crates)
        if workload.name in grants:
            granted = grants[workload.name]
        elif kind == "function":
            granted = runtime  # no business policy (analytics): the runtime permissions only
        else:
            granted = []
        granted_actions = {g.action for g in granted}
        called_services = {a.split(":")[0] for a in calls}
        for action, where in sorted(calls.items()):
            checked += 1
            if action not in granted_actions:
                failures.append(
                    f"{workload.name}: calls {action} ({', '.join(sorted(set(where)))}) but its role has no grant for it"
                )
        for grant in granted:
            checked += 1
            if grant.action in calls:
                continue
            if grant.action.startswith("kms:") and grant.via and grant.via in called_services:
                continue  # implied by a call to the service that encrypts with the key
            if allowed(workload.name, kind, grant.action):
                continue
            failures.append(
                f"{workload.name}: is granted {grant.action} (statement {grant.sid} in {grant.where}) "
                "but no code of the workload calls it; remove the grant or allowlist it with a reason"
            )
    for failure in failures:
        print(f"FAIL {failure}", file=out)
    print(f"iam check: {len(workloads)} workloads, {checked} checks, {len(failures)} failed", file=out)
    return 1 if failures else 0


# --------------------------------------------------------------------------
# Self-test
# --------------------------------------------------------------------------


def copy_tree(root: Path, target: Path) -> None:
    for base in CODE_ROOTS:
        for manifest in (root / base).glob("*/Cargo.toml"):
            crate = manifest.parent
            destination = target / base / crate.name
            (destination).mkdir(parents=True, exist_ok=True)
            shutil.copy2(manifest, destination / "Cargo.toml")
            if (crate / "src").is_dir():
                shutil.copytree(crate / "src", destination / "src")
    for module in ("iam", "lambda"):
        shutil.copytree(root / "infra" / "modules" / module, target / "infra" / "modules" / module)


def self_test(root: Path) -> int:
    import io

    results = []

    def attempt(label: str, plant, expect: str | None) -> None:
        with tempfile.TemporaryDirectory(prefix="check-iam-") as tmp:
            copy = Path(tmp)
            copy_tree(root, copy)
            if plant:
                plant(copy)
            buffer = io.StringIO()
            status = run(copy, out=buffer)
            output = buffer.getvalue()
            if expect is None:
                ok = status == 0
            else:
                ok = status == 1 and expect in output
            results.append(ok)
            print(f"{'ok  ' if ok else 'FAIL'} {label}: exit {status}")
            for line in output.splitlines():
                if line.startswith("FAIL") or not ok:
                    print(f"       {line}")

    def plant_call(copy: Path) -> None:
        # A new SDK call in the dispatcher that no policy grants.
        source = copy / "functions" / "webhook-dispatcher" / "src" / "lib.rs"
        source.write_text(
            source.read_text(encoding="utf-8")
            + "\n\npub async fn planted(sqs: &aws_sdk_sqs::Client) {\n"
            "    let _ = sqs.purge_queue().queue_url(\"q\").send().await;\n}\n",
            encoding="utf-8",
        )

    def plant_grant(copy: Path) -> None:
        # A grant the dispatcher's code never uses.
        policy = copy / "infra" / "modules" / "iam" / "functions.tf"
        text = policy.read_text(encoding="utf-8")
        marker = 'data "aws_iam_policy_document" "webhook_dispatcher" {\n'
        assert marker in text, "webhook_dispatcher policy document not found"
        text = text.replace(
            marker,
            marker + '  statement {\n    sid       = "Planted"\n    actions   = ["dynamodb:Scan"]\n'
            '    resources = [var.webhook_deliveries_table_arn]\n  }\n\n',
        )
        policy.write_text(text, encoding="utf-8")

    def plant_shared_grant(copy: Path) -> None:
        # A grant in the document every function's policy merges in
        # (source_policy_documents), which none of them uses.
        policy = copy / "infra" / "modules" / "iam" / "functions.tf"
        text = policy.read_text(encoding="utf-8")
        marker = 'data "aws_iam_policy_document" "dynamodb_table_key" {\n'
        assert marker in text, "dynamodb_table_key policy document not found"
        text = text.replace(
            marker,
            marker + '  statement {\n    sid       = "Planted"\n    actions   = ["sqs:PurgeQueue"]\n'
            '    resources = ["*"]\n  }\n\n',
        )
        policy.write_text(text, encoding="utf-8")

    attempt("the unchanged copy passes", None, None)
    attempt("a call without a grant fails", plant_call, "webhook-dispatcher: calls sqs:PurgeQueue")
    attempt("a grant without a call fails", plant_grant, "webhook-dispatcher: is granted dynamodb:Scan")
    attempt(
        "a grant merged in by source_policy_documents without a call fails",
        plant_shared_grant,
        "notifier: is granted sqs:PurgeQueue (statement Planted",
    )
    passed = sum(results)
    print(f"iam check self-test: {passed} passed, {len(results) - passed} failed")
    return 0 if all(results) else 1


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=REPO, help="repository root (default: this checkout)")
    parser.add_argument("--self-test", action="store_true", help="show the check fails on planted defects")
    args = parser.parse_args(argv)
    if args.self_test:
        return self_test(args.root)
    return run(args.root)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
