#!/usr/bin/env bash
# Fails when the workspace's `rust-version` is lower than what a locked dependency declares:
# the manifest must state the real minimum toolchain, so a dependency update that raises it
# shows up here instead of as a build error on a user's older toolchain.
# (The code's own floor, edition 2024 with let-chains, is 1.88; the dependencies' is higher.)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo metadata --format-version 1 --locked | python3 -c '
import json, sys

def version(text):
    parts = [int(part) for part in text.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))

meta = json.load(sys.stdin)
locked = {node["id"] for node in meta["resolve"]["nodes"]}
members = set(meta["workspace_members"])
declared = {p["rust_version"] for p in meta["packages"] if p["id"] in members}
if len(declared) != 1 or None in declared:
    sys.exit(f"rust-version: every workspace member must inherit one rust-version, found {sorted(map(str, declared))}")
manifest = declared.pop()
needs = [(version(p["rust_version"]), p["name"], p["version"]) for p in meta["packages"]
         if p["id"] in locked and p["id"] not in members and p.get("rust_version")]
highest, name, ver = max(needs)
floor = ".".join(map(str, highest))
if version(manifest) < highest:
    sys.exit(f"rust-version: the workspace says {manifest}, but {name} {ver} needs {floor}: "
             f"raise [workspace.package] rust-version in Cargo.toml")
print(f"rust-version: {manifest}, the highest a locked dependency needs is {floor} ({name} {ver})")
'
