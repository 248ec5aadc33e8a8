#!/usr/bin/env python3
"""Reads and edits the release file of a Kustomize overlay (k8s/overlays/<env>/version.yaml).

The file holds one ImageTagTransformer per service image::

    imageTag:
      name: gateway
      newName: 111111111111.dkr.ecr.eu-west-1.amazonaws.com/retail-dev/gateway
      newTag: "0.1.0"

Only `newTag` lines are rewritten, in place, so comments and layout survive and
the pull request shows exactly the tags that change. `newName` stays: every
environment pulls from the registry in its own account.

Dev-only images (DEV_ONLY: the payment simulator) are in dev's file only:
`promote` leaves them behind and refuses a target that lists one.

    release_tags.py set --overlay k8s/overlays/dev --tag <tag> [--images a,b]
    release_tags.py promote --from k8s/overlays/dev --to k8s/overlays/staging
    release_tags.py images --overlay k8s/overlays/staging     # <newName>:<newTag> per line

Standard library only (runs on any runner's python3).
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

# Images only dev runs; main.yml never copies them to the staging or prod registries.
DEV_ONLY = {"psp-simulator"}

TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
FIELD = re.compile(r"^(?P<indent>\s+)(?P<key>name|newName|newTag):\s*(?P<value>.*?)\s*$")


@dataclass
class Entry:
    """One image of the release file."""

    name: str = ""
    new_name: str = ""
    new_tag: str = ""
    tag_line: int = -1
    tag_indent: str = "  "


def unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def parse(lines: list[str]) -> dict[str, Entry]:
    """The imageTag blocks of the file, keyed by image name."""
    entries: dict[str, Entry] = {}
    current: Entry | None = None
    for number, line in enumerate(lines):
        stripped = line.rstrip("\n")
        if stripped.startswith("imageTag:"):
            current = Entry()
            continue
        if current is not None and (stripped == "---" or (stripped and not stripped[0].isspace())):
            _finish(current, entries)
            current = None
            continue
        if current is None:
            continue
        match = FIELD.match(stripped)
        if not match:
            continue
        key, value = match["key"], unquote(match["value"])
        if key == "name":
            current.name = value
        elif key == "newName":
            current.new_name = value
        else:
            current.new_tag = value
            current.tag_line = number
            current.tag_indent = match["indent"]
    if current is not None:
        _finish(current, entries)
    return entries


def _finish(entry: Entry, entries: dict[str, Entry]) -> None:
    if not entry.name or entry.tag_line < 0:
        raise SystemExit(f"an imageTag block without name or newTag (image {entry.name or '?'})")
    if entry.name in entries:
        raise SystemExit(f"image {entry.name} appears twice")
    entries[entry.name] = entry


def release_file(overlay: str) -> Path:
    path = Path(overlay) / "version.yaml"
    if not path.is_file():
        raise SystemExit(f"{path} does not exist")
    return path


def write_tags(path: Path, tags: dict[str, str]) -> list[str]:
    """Sets newTag of the named images; returns the images whose tag changed."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    entries = parse(lines)
    unknown = sorted(set(tags) - set(entries))
    if unknown:
        raise SystemExit(f"{path}: no image {', '.join(unknown)}")
    changed = []
    for name, tag in sorted(tags.items()):
        if not TAG.match(tag):
            raise SystemExit(f"{tag!r} is not a valid image tag")
        entry = entries[name]
        if entry.new_tag != tag:
            lines[entry.tag_line] = f'{entry.tag_indent}newTag: "{tag}"\n'
            changed.append(name)
    path.write_text("".join(lines), encoding="utf-8")
    return changed


def command_set(args: argparse.Namespace) -> int:
    path = release_file(args.overlay)
    entries = parse(path.read_text(encoding="utf-8").splitlines(keepends=True))
    names = [n for n in args.images.split(",") if n] if args.images else list(entries)
    changed = write_tags(path, {name: args.tag for name in names})
    print(f"{path}: {len(changed)} image(s) now at {args.tag}: {', '.join(changed) or 'none changed'}")
    return 0


def command_promote(args: argparse.Namespace) -> int:
    source = release_file(args.source)
    target = release_file(args.target)
    released = parse(source.read_text(encoding="utf-8").splitlines(keepends=True))
    current = parse(target.read_text(encoding="utf-8").splitlines(keepends=True))
    if DEV_ONLY & set(current):
        raise SystemExit(f"{target} lists dev-only image(s) {sorted(DEV_ONLY & set(current))}: only dev runs them")
    left_behind = sorted(DEV_ONLY & set(released))
    released = {name: entry for name, entry in released.items() if name not in DEV_ONLY}
    if set(released) != set(current):
        raise SystemExit(
            f"{source} and {target} list different images: "
            f"only in source {sorted(set(released) - set(current))}, only in target {sorted(set(current) - set(released))}"
        )
    changed = write_tags(target, {name: entry.new_tag for name, entry in released.items()})
    for name in changed:
        print(f"{name}: {current[name].new_tag} -> {released[name].new_tag}")
    if left_behind:
        print(f"not promoted (dev only): {', '.join(left_behind)}")
    print(f"{target}: {len(changed)} image(s) promoted from {source}")
    return 0


def command_images(args: argparse.Namespace) -> int:
    path = release_file(args.overlay)
    for entry in parse(path.read_text(encoding="utf-8").splitlines(keepends=True)).values():
        print(f"{entry.new_name}:{entry.new_tag}")
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    set_parser = sub.add_parser("set", help="set the tag of every (or the listed) image")
    set_parser.add_argument("--overlay", required=True)
    set_parser.add_argument("--tag", required=True)
    set_parser.add_argument("--images", default="", help="comma-separated image names (default: all)")
    set_parser.set_defaults(run=command_set)
    promote_parser = sub.add_parser("promote", help="copy every image tag from one overlay to another")
    promote_parser.add_argument("--from", dest="source", required=True)
    promote_parser.add_argument("--to", dest="target", required=True)
    promote_parser.set_defaults(run=command_promote)
    images_parser = sub.add_parser("images", help="print <newName>:<newTag> per image")
    images_parser.add_argument("--overlay", required=True)
    images_parser.set_defaults(run=command_images)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
