#!/usr/bin/env python3
"""Offline checks of observability/: every metric we query exists, dashboards and alerts are well formed.

Usage:
    python observability/tests/check_observability.py --exported FILE [--exported FILE ...] [--root REPO]
        [--kubectl PATH [--kubernetes-validate PATH]]

FILE lists metric names the running services export, one per line (the test harnesses write
such files by scraping the services' /metrics; `#` comments and blank lines are ignored). FILE
may be a glob pattern, expanded by this script (quote it in a shell), for example
'.local/exported-metrics*.txt': the platform test writes .local/exported-metrics.txt and the
bridge test .local/exported-metrics-bridge.txt. A metric counts as exported when any of the
files lists it (their union); every --exported argument must match at least one file.

Checks:
  * every YAML file under observability/ parses;
  * metric names referenced by Prometheus rules (`expr`), Grafana dashboards (PromQL
    `targets[].expr` and variable queries) and Argo Rollouts AnalysisTemplates under argocd/
    and k8s/ (`spec.metrics[].provider.prometheus.query`) are exported by a service, recorded by one of
    our recording rules, or listed in observability/external-metrics.txt. Histogram series
    (`_bucket`, `_sum`, `_count`) count as their family. CloudWatch targets of dashboards must
    name a `cloudwatch:<namespace>:<metric>` entry of the external list;
  * every dashboard parses, has a unique uid and title, schemaVersion 39, a `datasource`
    variable of type datasource, and every panel and target uses it;
  * every alert has a `severity` label (critical or warning) routed by Alertmanager, and the
    annotations summary, description and runbook_url, the latter pointing at a heading of
    observability/runbooks.md;
  * every alert has a promtool unit test in which it fires and one in which it does not;
  * observability/k8s (the cluster manifests): the generated PrometheusRules, dashboard ConfigMaps
    and AlertmanagerConfig are what observability/tests/generate_k8s.py writes from the sources
    (a rule added to prometheus/rules/ and not regenerated fails, naming the rule), and every
    custom resource there (PrometheusRule, AlertmanagerConfig, ServiceMonitor, SecretStore,
    ExternalSecret) has the structure its operator accepts: kubernetes-validate has no schema for
    them. Each AlertmanagerConfig receiver secret must be the target of an ExternalSecret with
    that key;
  * with --kubectl: `kubectl kustomize` renders observability/k8s and every overlay, the checks
    above run on the rendered objects too, and with --kubernetes-validate the built-in kinds
    (ConfigMap, Deployment, Service, ServiceAccount, ...) pass `kubernetes-validate --strict`.

Needs Python 3.9+ and PyYAML. Exit status 0 when everything passes, 1 otherwise.
"""

from __future__ import annotations

import argparse
import glob
import importlib.util
import json
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

try:
    import yaml
except ImportError:  # pragma: no cover - environment problem, not a check failure
    sys.exit("check_observability.py needs PyYAML: pip install pyyaml")

HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
SEVERITIES = {"critical", "warning"}
REQUIRED_ANNOTATIONS = ("summary", "description", "runbook_url")
RUNBOOK_PREFIX = "observability/runbooks.md#"
DATASOURCE_REF = {"${datasource}", "$datasource"}
SCHEMA_VERSION = 39
# Where Argo Rollouts AnalysisTemplates may live (searched recursively when present).
ANALYSIS_TEMPLATE_DIRS = ("argocd", "k8s")

# Words of PromQL that look like identifiers but are not metric names.
PROMQL_KEYWORDS = {
    "and", "or", "unless", "atan2", "by", "without", "on", "ignoring", "group_left",
    "group_right", "bool", "offset", "inf", "nan", "start", "end",
}
IDENT = re.compile(r"(?<![\w:.$])([A-Za-z_:][A-Za-z0-9_:]*)")


def strip_strings(expr: str) -> str:
    """Replaces string literals ("...", '...', `...`) by an empty string literal marker."""
    out = []
    i = 0
    while i < len(expr):
        c = expr[i]
        if c in "\"'`":
            j = i + 1
            while j < len(expr) and expr[j] != c:
                j += 2 if expr[j] == "\\" and c != "`" else 1
            out.append('""')
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def promql_metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (functions, keywords and labels excluded)."""
    names: set[str] = set()
    expr = re.sub(r"\{\{.*?\}\}", "x", expr, flags=re.S)  # Go/Argo templates: {{args.x}}
    for m in re.finditer(r"__name__\s*=\s*\"([A-Za-z_:][A-Za-z0-9_:]*)\"", expr):
        names.add(m.group(1))
    s = strip_strings(expr)
    s = re.sub(r"#[^\n]*", " ", s)  # comments
    s = re.sub(r"\$\{[^}]*\}|\$\w+", " ", s)  # Grafana variables: ${x}, $__rate_interval
    s = re.sub(r"\{[^}]*\}", " ", s)  # label matchers
    s = re.sub(r"\[[^\]]*\]", " ", s)  # range and subquery selectors
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    for m in IDENT.finditer(s):
        word = m.group(1)
        rest = s[m.end():].lstrip()
        if rest.startswith("("):
            continue  # function or aggregation call
        if word.lower() in PROMQL_KEYWORDS:
            continue
        names.add(word)
    return names


def family(name: str) -> str:
    for suffix in HISTOGRAM_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def read_list(path: Path) -> set[str]:
    names = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.add(line)
    return names


def github_anchor(heading: str) -> str:
    slug = heading.strip().lower()
    slug = re.sub(r"[^\w\- ]", "", slug)
    return slug.replace(" ", "-")


class Checker:
    def __init__(self, root: Path, exported: set[str]):
        self.root = root
        self.obs = root / "observability"
        self.errors: list[str] = []
        self.exported = exported | {family(n) for n in exported}
        self.external = read_list(self.obs / "external-metrics.txt")
        self.recorded: set[str] = set()
        self.alerts: dict[str, dict] = {}
        # metric name -> places that reference it
        self.references: dict[str, set[str]] = defaultdict(set)
        self.counts = defaultdict(int)

    def error(self, message: str) -> None:
        self.errors.append(message)

    def rel(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)

    def reference(self, expr: str, where: str) -> None:
        for name in promql_metric_names(expr):
            self.references[name].add(where)

    # ------------------------------------------------------------------ rules
    def load_rules(self) -> None:
        files = sorted((self.obs / "prometheus" / "rules").glob("*.y*ml"))
        if not files:
            self.error("no rule files in observability/prometheus/rules")
        for path in files:
            self.counts["rule files"] += 1
            try:
                doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            except yaml.YAMLError as err:
                self.error(f"{self.rel(path)}: invalid YAML: {err}")
                continue
            for group in doc.get("groups") or []:
                for rule in group.get("rules") or []:
                    expr = str(rule.get("expr", ""))
                    if "record" in rule:
                        self.recorded.add(rule["record"])
                        self.counts["recording rules"] += 1
                        self.reference(expr, f"{self.rel(path)} record {rule['record']}")
                    elif "alert" in rule:
                        name = rule["alert"]
                        self.counts["alerts"] += 1
                        if name in self.alerts:
                            self.error(f"{self.rel(path)}: alert {name} is defined twice")
                        self.alerts[name] = {"rule": rule, "file": self.rel(path)}
                        self.reference(expr, f"{self.rel(path)} alert {name}")

    def check_alerts(self) -> None:
        runbook = self.obs / "runbooks.md"
        anchors = set()
        if runbook.exists():
            for line in runbook.read_text(encoding="utf-8").splitlines():
                m = re.match(r"^#{1,6}\s+(.+?)\s*#*\s*$", line)
                if m:
                    anchors.add(github_anchor(m.group(1)))
        else:
            self.error("observability/runbooks.md is missing")
        routed = self.routed_severities()
        for name, info in sorted(self.alerts.items()):
            rule, where = info["rule"], f"{info['file']} alert {name}"
            labels = rule.get("labels") or {}
            annotations = rule.get("annotations") or {}
            severity = labels.get("severity")
            if severity not in SEVERITIES:
                self.error(f"{where}: label severity must be one of {sorted(SEVERITIES)}, got {severity!r}")
            elif routed is not None and severity not in routed:
                self.error(f"{where}: severity {severity} has no route in alertmanager.yml")
            for key in REQUIRED_ANNOTATIONS:
                if not str(annotations.get(key, "")).strip():
                    self.error(f"{where}: annotation {key} is missing or empty")
            url = str(annotations.get("runbook_url", ""))
            if url:
                if not url.startswith(RUNBOOK_PREFIX):
                    self.error(f"{where}: runbook_url must start with {RUNBOOK_PREFIX}, got {url}")
                elif url[len(RUNBOOK_PREFIX):] not in anchors:
                    self.error(f"{where}: runbook_url anchor #{url[len(RUNBOOK_PREFIX):]} is not a heading of observability/runbooks.md")

    def routed_severities(self) -> set[str] | None:
        path = self.obs / "alertmanager" / "alertmanager.yml"
        if not path.exists():
            return None
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as err:
            self.error(f"{self.rel(path)}: invalid YAML: {err}")
            return None
        found = set()

        def walk(route: dict) -> None:
            for matcher in route.get("matchers") or []:
                m = re.match(r'\s*severity\s*=\s*"?([\w-]+)"?\s*$', str(matcher))
                if m:
                    found.add(m.group(1))
            for key, value in (route.get("match") or {}).items():
                if key == "severity":
                    found.add(str(value))
            for child in route.get("routes") or []:
                walk(child)

        walk(doc.get("route") or {})
        return found

    def check_rule_tests(self) -> None:
        fires: set[str] = set()
        quiet: set[str] = set()
        files = sorted((self.obs / "prometheus" / "tests").glob("*.y*ml"))
        if not files:
            self.error("no promtool unit tests in observability/prometheus/tests")
        for path in files:
            try:
                doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            except yaml.YAMLError as err:
                self.error(f"{self.rel(path)}: invalid YAML: {err}")
                continue
            for test in doc.get("tests") or []:
                for case in test.get("alert_rule_test") or []:
                    name = case.get("alertname")
                    (fires if case.get("exp_alerts") else quiet).add(name)
        for name in sorted(self.alerts):
            if name not in fires:
                self.error(f"alert {name}: no promtool test where it fires")
            if name not in quiet:
                self.error(f"alert {name}: no promtool test where it stays quiet")

    # ------------------------------------------------------------- dashboards
    def check_dashboards(self) -> None:
        uids: dict[str, str] = {}
        titles: dict[str, str] = {}
        files = sorted((self.obs / "grafana" / "dashboards").glob("*.json"))
        if not files:
            self.error("no dashboards in observability/grafana/dashboards")
        for path in files:
            where = self.rel(path)
            self.counts["dashboards"] += 1
            try:
                dash = json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as err:
                self.error(f"{where}: invalid JSON: {err}")
                continue
            uid, title = dash.get("uid"), dash.get("title")
            if not uid:
                self.error(f"{where}: no uid")
            elif uid in uids:
                self.error(f"{where}: uid {uid} also used by {uids[uid]}")
            else:
                uids[uid] = where
            if not title:
                self.error(f"{where}: no title")
            elif title in titles:
                self.error(f"{where}: title {title!r} also used by {titles[title]}")
            else:
                titles[title] = where
            if dash.get("schemaVersion") != SCHEMA_VERSION:
                self.error(f"{where}: schemaVersion is {dash.get('schemaVersion')}, expected {SCHEMA_VERSION}")
            variables = (dash.get("templating") or {}).get("list") or []
            ds_vars = [v for v in variables if v.get("name") == "datasource"]
            if not ds_vars or ds_vars[0].get("type") != "datasource":
                self.error(f"{where}: needs a templating variable `datasource` of type datasource")
                ds_type = None
            else:
                ds_type = ds_vars[0].get("query")
            for var in variables:
                if var.get("type") == "query":
                    self.check_datasource(var.get("datasource"), f"{where} variable {var.get('name')}")
                    if (var.get("datasource") or {}).get("type", ds_type) == "prometheus":
                        query = var.get("query")
                        if isinstance(query, dict):
                            query = query.get("query", "")
                        self.variable_query(str(query or ""), f"{where} variable {var.get('name')}")
            ids: set[int] = set()
            for panel in self.panels(dash.get("panels") or []):
                pid = panel.get("id")
                if pid in ids:
                    self.error(f"{where}: panel id {pid} used twice")
                ids.add(pid)
                if panel.get("type") == "row":
                    continue
                pwhere = f"{where} panel {panel.get('title')!r}"
                self.counts["panels"] += 1
                self.check_datasource(panel.get("datasource"), pwhere)
                targets = panel.get("targets") or []
                if not targets:
                    self.error(f"{pwhere}: no targets")
                for target in targets:
                    self.check_datasource(target.get("datasource", panel.get("datasource")), pwhere)
                    kind = (target.get("datasource") or panel.get("datasource") or {}).get("type", ds_type)
                    if kind == "cloudwatch":
                        entry = f"cloudwatch:{target.get('namespace')}:{target.get('metricName')}"
                        if entry not in self.external:
                            self.error(f"{pwhere}: {entry} is not listed in observability/external-metrics.txt")
                        self.counts["CloudWatch queries"] += 1
                    elif "expr" in target:
                        if not str(target["expr"]).strip():
                            self.error(f"{pwhere}: empty expr")
                        self.reference(str(target["expr"]), pwhere)
                        self.counts["PromQL queries"] += 1
                    else:
                        self.error(f"{pwhere}: target {target.get('refId')} has neither expr nor a CloudWatch metric")

    def panels(self, panels: list) -> list:
        out = []
        for panel in panels:
            out.append(panel)
            out.extend(self.panels(panel.get("panels") or []))
        return out

    def check_datasource(self, ds, where: str) -> None:
        uid = ds.get("uid") if isinstance(ds, dict) else ds
        if uid not in DATASOURCE_REF:
            self.error(f"{where}: datasource must be referenced as ${{datasource}}, got {ds!r}")

    def variable_query(self, query: str, where: str) -> None:
        m = re.match(r"\s*label_values\s*\((.*),\s*[A-Za-z_]\w*\s*\)\s*$", query, re.S)
        if m:
            self.reference(m.group(1), where)
            return
        m = re.match(r"\s*query_result\s*\((.*)\)\s*$", query, re.S)
        if m:
            self.reference(m.group(1), where)

    # --------------------------------------------------------------- argocd
    def load_analysis_templates(self) -> None:
        paths = []
        for top in ANALYSIS_TEMPLATE_DIRS:
            base = self.root / top
            if base.is_dir():
                paths += sorted(list(base.rglob("*.yaml")) + list(base.rglob("*.yml")))
        for path in paths:
            try:
                docs = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
            except yaml.YAMLError as err:
                self.error(f"{self.rel(path)}: invalid YAML: {err}")
                continue
            for doc in docs:
                if not isinstance(doc, dict) or doc.get("kind") not in ("AnalysisTemplate", "ClusterAnalysisTemplate"):
                    continue
                self.counts["AnalysisTemplates"] += 1
                name = (doc.get("metadata") or {}).get("name")
                for metric in (doc.get("spec") or {}).get("metrics") or []:
                    query = (((metric.get("provider") or {}).get("prometheus")) or {}).get("query")
                    if query:
                        self.reference(str(query), f"{self.rel(path)} AnalysisTemplate {name} metric {metric.get('name')}")

    # ------------------------------------------------------------ k8s manifests
    def check_k8s_generated(self) -> None:
        """The committed generated manifests are exactly what generate_k8s.py writes."""
        script = self.obs / "tests" / "generate_k8s.py"
        spec = importlib.util.spec_from_file_location("generate_k8s", script)
        gen = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(gen)
            expected = gen.expected_files()
        except Exception as err:  # noqa: BLE001 - any failure of the generator is a check failure
            self.error(f"{self.rel(script)}: cannot generate the cluster manifests: {err}")
            return
        out = Path(gen.OUT)
        present = {p.name for p in out.glob("*") if p.is_file()} if out.is_dir() else set()
        for name, content in sorted(expected.items()):
            path = out / name
            if not path.is_file():
                self.error(f"{self.rel(path)} is missing: run python {self.rel(script)}")
            elif path.read_text(encoding="utf-8") != content:
                self.error(f"{self.rel(path)} is out of date with its source: run python {self.rel(script)}")
        for name in sorted(present - set(expected)):
            self.error(f"{self.rel(out / name)} is no longer generated from any source: run python {self.rel(script)}")
        # Name the rules themselves, so the message says what is missing where.
        source_rules = self.rule_names_in_sources()
        generated_rules: dict[str, str] = {}
        for path in sorted(out.glob("prometheusrule-*.yaml")):
            doc = self.load_k8s_docs(path)
            for obj in doc:
                for group in ((obj.get("spec") or {}).get("groups") or []):
                    for rule in group.get("rules") or []:
                        key = rule.get("alert") or rule.get("record")
                        generated_rules[f"{group.get('name')}/{key}"] = self.rel(path)
        for key in sorted(set(source_rules) - set(generated_rules)):
            self.error(f"rule {key} ({source_rules[key]}) is in no generated PrometheusRule under {self.rel(out)}")
        for key in sorted(set(generated_rules) - set(source_rules)):
            self.error(f"rule {key} of {generated_rules[key]} is not in observability/prometheus/rules")
        self.counts["generated manifests"] += len(expected)

    def rule_names_in_sources(self) -> dict[str, str]:
        names: dict[str, str] = {}
        for path in sorted((self.obs / "prometheus" / "rules").glob("*.y*ml")):
            try:
                doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            except yaml.YAMLError:
                continue  # reported by check_yaml_files
            for group in doc.get("groups") or []:
                for rule in group.get("rules") or []:
                    names[f"{group.get('name')}/{rule.get('alert') or rule.get('record')}"] = self.rel(path)
        return names

    @staticmethod
    def parse_k8s(text: str) -> list[dict]:
        # kustomize writes `matchType: =` unquoted, which YAML 1.1 loaders read as the `value`
        # tag; Kubernetes reads it as the string "=", so do the same.
        class Loader(yaml.SafeLoader):
            pass

        Loader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))
        return [d for d in yaml.load_all(text, Loader=Loader) if isinstance(d, dict)]

    def load_k8s_docs(self, path: Path) -> list[dict]:
        try:
            return self.parse_k8s(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as err:
            self.error(f"{self.rel(path)}: invalid YAML: {err}")
            return []

    def check_k8s_sources(self) -> None:
        """Structure of the custom resources as committed (every file of observability/k8s)."""
        base = self.obs / "k8s"
        if not base.is_dir():
            self.error("observability/k8s is missing")
            return
        objects = []
        for path in sorted(list(base.rglob("*.yaml")) + list(base.rglob("*.yml"))):
            if path.name.startswith("kustomization.") or path.parent.name == "yace" and path.name == "config.yml":
                continue
            for obj in self.load_k8s_docs(path):
                objects.append((obj, self.rel(path)))
        self.check_k8s_objects(objects)

    def check_k8s_objects(self, objects: list[tuple[dict, str]]) -> None:
        """Structural checks of the custom resources kubernetes-validate has no schema for."""
        stores = {((o.get("metadata") or {}).get("name"), o.get("kind")) for o, _ in objects
                  if o.get("kind") in ("SecretStore", "ClusterSecretStore")}
        synced: dict[str, set[str]] = defaultdict(set)  # Secret name -> keys an ExternalSecret writes
        for obj, where in objects:
            kind = obj.get("kind")
            meta = obj.get("metadata") or {}
            name = meta.get("name")
            spec = obj.get("spec")
            here = f"{where} {kind} {name}"
            if not name:
                self.error(f"{where}: {kind} without metadata.name")
            if kind in ("PrometheusRule", "AlertmanagerConfig", "ServiceMonitor", "SecretStore", "ExternalSecret") \
                    and not isinstance(spec, dict):
                self.error(f"{here}: spec must be a mapping")
                continue
            if kind == "PrometheusRule":
                self.counts["PrometheusRules"] += 1
                self.check_prometheus_rule(obj, here)
            elif kind == "ServiceMonitor":
                self.counts["ServiceMonitors"] += 1
                if obj.get("apiVersion") != "monitoring.coreos.com/v1":
                    self.error(f"{here}: apiVersion must be monitoring.coreos.com/v1")
                if not ((spec.get("selector") or {}).get("matchLabels") or (spec.get("selector") or {}).get("matchExpressions")):
                    self.error(f"{here}: spec.selector selects nothing")
                endpoints = spec.get("endpoints")
                if not isinstance(endpoints, list) or not endpoints:
                    self.error(f"{here}: spec.endpoints must be a non-empty list")
                for ep in endpoints or []:
                    if not (ep.get("port") or ep.get("targetPort")):
                        self.error(f"{here}: endpoint without port")
                    for key in ("interval", "scrapeTimeout"):
                        if key in ep and not re.fullmatch(r"(\d+(ms|s|m|h))+", str(ep[key])):
                            self.error(f"{here}: endpoint {key} {ep[key]!r} is not a duration")
            elif kind in ("SecretStore", "ClusterSecretStore"):
                if obj.get("apiVersion") != "external-secrets.io/v1":
                    self.error(f"{here}: apiVersion must be external-secrets.io/v1")
                aws = ((spec.get("provider") or {}).get("aws")) or {}
                if aws.get("service") not in ("SecretsManager", "ParameterStore") or not aws.get("region"):
                    self.error(f"{here}: spec.provider.aws needs service and region")
            elif kind == "ExternalSecret":
                if obj.get("apiVersion") != "external-secrets.io/v1":
                    self.error(f"{here}: apiVersion must be external-secrets.io/v1")
                ref = spec.get("secretStoreRef") or {}
                if (ref.get("name"), ref.get("kind", "SecretStore")) not in stores:
                    self.error(f"{here}: secretStoreRef {ref} names no SecretStore here")
                target = (spec.get("target") or {}).get("name") or name
                for item in spec.get("data") or []:
                    if not item.get("secretKey") or not (item.get("remoteRef") or {}).get("key"):
                        self.error(f"{here}: data entries need secretKey and remoteRef.key")
                    else:
                        synced[target].add(item["secretKey"])
        for obj, where in objects:
            if obj.get("kind") == "AlertmanagerConfig":
                self.counts["AlertmanagerConfigs"] += 1
                self.check_alertmanager_config(obj, f"{where} AlertmanagerConfig {(obj.get('metadata') or {}).get('name')}", synced)
            elif obj.get("kind") == "ConfigMap" and ((obj.get("metadata") or {}).get("labels") or {}).get("grafana_dashboard") == "1":
                data = obj.get("data") or {}
                if len(data) != 1 or not all(k.endswith(".json") for k in data):
                    self.error(f"{where}: a dashboard ConfigMap holds exactly one <name>.json key")
                for key, value in data.items():
                    try:
                        json.loads(value)
                    except (TypeError, json.JSONDecodeError) as err:
                        self.error(f"{where}: {key} is not valid JSON: {err}")

    def check_prometheus_rule(self, obj: dict, here: str) -> None:
        if obj.get("apiVersion") != "monitoring.coreos.com/v1":
            self.error(f"{here}: apiVersion must be monitoring.coreos.com/v1")
        if not ((obj.get("metadata") or {}).get("labels") or {}).get("release"):
            self.error(f"{here}: no `release` label: kube-prometheus-stack's default ruleSelector would ignore it")
        groups = obj["spec"].get("groups")
        if not isinstance(groups, list) or not groups:
            self.error(f"{here}: spec.groups must be a non-empty list")
            return
        seen = set()
        for group in groups:
            gname = group.get("name")
            if not gname or gname in seen:
                self.error(f"{here}: group name {gname!r} missing or repeated")
            seen.add(gname)
            unknown = set(group) - {"name", "interval", "rules", "limit", "query_offset", "labels", "partial_response_strategy"}
            if unknown:
                self.error(f"{here} group {gname}: unknown keys {sorted(unknown)}")
            if "interval" in group and not re.fullmatch(r"(\d+(ms|s|m|h|d|w|y))+", str(group["interval"])):
                self.error(f"{here} group {gname}: interval {group['interval']!r} is not a duration")
            rules = group.get("rules")
            if not isinstance(rules, list) or not rules:
                self.error(f"{here} group {gname}: rules must be a non-empty list")
                continue
            for rule in rules:
                kinds = [k for k in ("alert", "record") if k in rule]
                rname = rule.get("alert") or rule.get("record")
                if len(kinds) != 1:
                    self.error(f"{here} group {gname}: a rule needs exactly one of alert/record: {rule}")
                unknown = set(rule) - {"alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"}
                if unknown:
                    self.error(f"{here} rule {rname}: unknown keys {sorted(unknown)}")
                if not isinstance(rule.get("expr"), (str, int, float)) or not str(rule.get("expr")).strip():
                    self.error(f"{here} rule {rname}: expr missing")
                if "for" in rule and not re.fullmatch(r"(\d+(ms|s|m|h|d|w|y))+", str(rule["for"])):
                    self.error(f"{here} rule {rname}: for {rule['for']!r} is not a duration")
                for key in ("labels", "annotations"):
                    value = rule.get(key, {})
                    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
                        self.error(f"{here} rule {rname}: {key} must map names to strings")
                if "record" in rule and "annotations" in rule:
                    self.error(f"{here} rule {rname}: recording rules take no annotations")

    def check_alertmanager_config(self, obj: dict, here: str, synced: dict[str, set[str]]) -> None:
        if obj.get("apiVersion") != "monitoring.coreos.com/v1alpha1":
            self.error(f"{here}: apiVersion must be monitoring.coreos.com/v1alpha1")
        spec = obj["spec"]
        receivers = {}
        for rec in spec.get("receivers") or []:
            if not rec.get("name") or rec["name"] in receivers:
                self.error(f"{here}: receiver name {rec.get('name')!r} missing or repeated")
            receivers[rec.get("name")] = rec
            unknown = set(rec) - {"name", "pagerdutyConfigs", "slackConfigs", "webhookConfigs", "emailConfigs", "snsConfigs"}
            if unknown:
                self.error(f"{here} receiver {rec.get('name')}: keys not checked here {sorted(unknown)}")
            for cfg, secret_keys in ((rec.get("pagerdutyConfigs") or [], ("routingKey", "serviceKey")),
                                     (rec.get("slackConfigs") or [], ("apiURL",))):
                for entry in cfg:
                    refs = [entry[k] for k in secret_keys if k in entry]
                    if not refs:
                        self.error(f"{here} receiver {rec.get('name')}: needs one of {secret_keys} (a Secret reference)")
                    for ref in refs:
                        if not isinstance(ref, dict) or set(ref) - {"name", "key", "optional"} or not ref.get("name") or not ref.get("key"):
                            self.error(f"{here} receiver {rec.get('name')}: {ref!r} is not a Secret key reference")
                        elif ref["key"] not in synced.get(ref["name"], set()):
                            self.error(f"{here} receiver {rec.get('name')}: Secret {ref['name']} key {ref['key']} "
                                       "is written by no ExternalSecret in observability/k8s")
                    for key in ("details",):
                        for kv in entry.get(key) or []:
                            if set(kv) != {"key", "value"}:
                                self.error(f"{here} receiver {rec.get('name')}: {key} entries are {{key, value}}")

        def walk(route: dict, path: str, top: bool) -> None:
            unknown = set(route) - {"receiver", "groupBy", "groupWait", "groupInterval", "repeatInterval",
                                    "matchers", "continue", "routes", "muteTimeIntervals", "activeTimeIntervals"}
            if unknown:
                self.error(f"{here} {path}: unknown route keys {sorted(unknown)}")
            if top and not route.get("receiver"):
                self.error(f"{here} {path}: the top route needs a receiver")
            if route.get("receiver") and route["receiver"] not in receivers:
                self.error(f"{here} {path}: receiver {route['receiver']} is not defined")
            for key in ("groupWait", "groupInterval", "repeatInterval"):
                if key in route and not re.fullmatch(r"(\d+(ms|s|m|h|d|w|y))+", str(route[key])):
                    self.error(f"{here} {path}: {key} {route[key]!r} is not a duration")
            self.check_matchers(route.get("matchers"), f"{here} {path}")
            for i, child in enumerate(route.get("routes") or []):
                walk(child, f"{path}.routes[{i}]", False)

        walk(spec.get("route") or {}, "route", True)
        for i, rule in enumerate(spec.get("inhibitRules") or []):
            for key in ("sourceMatch", "targetMatch"):
                if not rule.get(key):
                    self.error(f"{here} inhibitRules[{i}]: {key} is empty")
                self.check_matchers(rule.get(key), f"{here} inhibitRules[{i}].{key}")

    def check_matchers(self, matchers, where: str) -> None:
        for m in matchers or []:
            if not isinstance(m, dict) or set(m) - {"name", "value", "matchType"} or not m.get("name") \
                    or m.get("matchType", "=") not in ("=", "!=", "=~", "!~") or "value" not in m:
                self.error(f"{where}: matcher {m!r} is not {{name, value, matchType: = != =~ !~}}")

    def check_k8s_rendered(self, kubectl: str, validator: str | None) -> None:
        """kubectl kustomize every entry point; structure-check and kubernetes-validate the output."""
        k8s = self.obs / "k8s"
        roots = [k8s] + sorted(p.parent for p in (k8s / "overlays").glob("*/kustomization.yaml"))
        custom = {"PrometheusRule", "AlertmanagerConfig", "ServiceMonitor", "PodMonitor", "SecretStore",
                  "ClusterSecretStore", "ExternalSecret"}
        for root in roots:
            where = f"kubectl kustomize {self.rel(root)}"
            run = subprocess.run([kubectl, "kustomize", str(root)], capture_output=True, text=True)
            if run.returncode != 0:
                self.error(f"{where} failed: {run.stderr.strip()}")
                continue
            self.counts["rendered kustomizations"] += 1
            try:
                docs = self.parse_k8s(run.stdout)
            except yaml.YAMLError as err:
                self.error(f"{where}: output is not YAML: {err}")
                continue
            for doc in docs:
                if (doc.get("metadata") or {}).get("namespace") != "monitoring":
                    self.error(f"{where}: {doc.get('kind')} {(doc.get('metadata') or {}).get('name')} is not in namespace monitoring")
            self.check_k8s_objects([(d, where) for d in docs])
            builtin = [d for d in docs if d.get("kind") not in custom]
            unknown = {d.get("kind") for d in builtin} - {"ConfigMap", "Secret", "Deployment", "Service",
                                                         "ServiceAccount", "NetworkPolicy", "Role", "RoleBinding"}
            if unknown:
                self.error(f"{where}: kinds neither validated by schema nor checked here: {sorted(unknown)}")
            if validator:
                check = subprocess.run([validator, "--strict", "--quiet", "-"], input=yaml.safe_dump_all(builtin),
                                       capture_output=True, text=True)
                if check.returncode != 0:
                    self.error(f"{where}: kubernetes-validate --strict failed:\n{check.stdout}{check.stderr}")

    # ---------------------------------------------------------------- names
    def check_names(self) -> None:
        known = self.exported | self.recorded | self.external
        for name, places in sorted(self.references.items()):
            if name in known or family(name) in known:
                continue
            self.error(f"unknown metric {name}, referenced by:\n      " + "\n      ".join(sorted(places)))

    def check_yaml_files(self) -> None:
        for path in sorted(list(self.obs.rglob("*.yml")) + list(self.obs.rglob("*.yaml"))):
            self.counts["YAML files"] += 1
            try:
                list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
            except yaml.YAMLError as err:
                self.error(f"{self.rel(path)}: invalid YAML: {err}")

    def run(self, kubectl: str | None = None, validator: str | None = None) -> int:
        self.check_yaml_files()
        self.load_rules()
        self.check_alerts()
        self.check_rule_tests()
        self.check_dashboards()
        self.load_analysis_templates()
        self.check_names()
        self.check_k8s_generated()
        self.check_k8s_sources()
        if kubectl:
            self.check_k8s_rendered(kubectl, validator)
        summary = ", ".join(f"{n} {k}" for k, n in sorted(self.counts.items()))
        print(f"checked: {summary}; {len(self.references)} distinct metric names referenced")
        if self.errors:
            print(f"FAILED: {len(self.errors)} problem(s)")
            for message in self.errors:
                print(f"  - {message}")
            return 1
        print("OK")
        return 0


def exported_files(patterns: list[str]) -> list[Path]:
    """The files the --exported arguments name: plain paths, or glob patterns (sorted matches).

    Raises ValueError for an argument that names no file, so a missing export never passes as
    an empty list."""
    files: list[Path] = []
    for pattern in patterns:
        if glob.has_magic(pattern):
            matches = [Path(m) for m in sorted(glob.glob(pattern)) if Path(m).is_file()]
            if not matches:
                raise ValueError(f"{pattern}: no file matches")
        else:
            matches = [Path(pattern)]
            if not matches[0].is_file():
                raise ValueError(f"{pattern}: no such file")
        for path in matches:
            if path.resolve() not in {f.resolve() for f in files}:
                files.append(path)
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--exported", required=True, action="append", metavar="FILE",
                        help="file (or quoted glob pattern) with one exported metric name per line; "
                             "repeatable, the union of all files counts")
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[2],
                        help="repository root (default: two levels above this script's directory)")
    parser.add_argument("--kubectl", metavar="PATH",
                        help="kubectl to render observability/k8s and its overlays with (kubectl kustomize)")
    parser.add_argument("--kubernetes-validate", metavar="PATH", dest="validator",
                        help="kubernetes-validate to check the rendered built-in objects with (needs --kubectl)")
    args = parser.parse_args()
    if args.validator and not args.kubectl:
        parser.error("--kubernetes-validate needs --kubectl")
    try:
        files = exported_files(args.exported)
    except ValueError as err:
        parser.error(str(err))
    exported: set[str] = set()
    for path in files:
        names = read_list(path)
        print(f"exported metrics: {len(names)} from {path}")
        exported |= names
    return Checker(args.root.resolve(), exported).run(args.kubectl, args.validator)


if __name__ == "__main__":
    sys.exit(main())
