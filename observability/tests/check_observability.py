#!/usr/bin/env python3
"""Offline checks of observability/: every metric we query exists, dashboards and alerts are well formed.

Usage:
    python observability/tests/check_observability.py --exported FILE [--exported FILE ...] [--root REPO]

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
  * every alert has a promtool unit test in which it fires and one in which it does not.

Needs Python 3.9+ and PyYAML. Exit status 0 when everything passes, 1 otherwise.
"""

from __future__ import annotations

import argparse
import glob
import json
import re
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

    def run(self) -> int:
        self.check_yaml_files()
        self.load_rules()
        self.check_alerts()
        self.check_rule_tests()
        self.check_dashboards()
        self.load_analysis_templates()
        self.check_names()
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
    args = parser.parse_args()
    try:
        files = exported_files(args.exported)
    except ValueError as err:
        parser.error(str(err))
    exported: set[str] = set()
    for path in files:
        names = read_list(path)
        print(f"exported metrics: {len(names)} from {path}")
        exported |= names
    return Checker(args.root.resolve(), exported).run()


if __name__ == "__main__":
    sys.exit(main())
