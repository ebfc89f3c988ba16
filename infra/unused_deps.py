"""Fails when a workspace crate declares a dependency its sources never name.

What `cargo machete` checks, without compiling it in CI: for every member of the workspace in
Cargo.toml, each dependency (normal, dev and build, target-specific ones too) must appear in one
of the crate's `.rs` files as `name::`, `use name` or `extern crate name`, where `name` is the
crate's library name (a path dependency's `[lib] name`, e.g. tierflow-shared is `tierflow`).
Comments do not count. A dependency used only through a feature or a macro's expansion is
listed in the crate's `[package.metadata.cargo-machete] ignored`, as cargo-machete reads it.

usage: unused_deps.py [--root DIR]
"""

import argparse
import pathlib
import re
import sys
import tomllib

DEPENDENCY_TABLES = ("dependencies", "dev-dependencies", "build-dependencies")


def members(root):
    """The workspace's member crate directories (globs expanded)."""
    workspace = tomllib.loads((root / "Cargo.toml").read_text())["workspace"]
    found = []
    for pattern in workspace["members"]:
        found += sorted(p for p in root.glob(pattern) if (p / "Cargo.toml").is_file())
    return found


def declared(manifest):
    """{dependency key: its table} for every dependency table of a manifest."""
    tables = [manifest]
    tables += manifest.get("target", {}).values()
    deps = {}
    for table in tables:
        for kind in DEPENDENCY_TABLES:
            deps.update(table.get(kind, {}))
    return deps


def library_name(root, crate_dir, key, spec, workspace_deps):
    """The name a crate's sources use for dependency `key`."""
    if isinstance(spec, dict) and spec.get("workspace"):
        spec = workspace_deps.get(key, {})
        base = root
    else:
        base = crate_dir
    if isinstance(spec, dict) and "path" in spec:
        manifest = tomllib.loads((base / spec["path"] / "Cargo.toml").read_text())
        if "name" in manifest.get("lib", {}):
            return manifest["lib"]["name"]
    return key.replace("-", "_")


def code_of(crate_dir):
    """The crate's Rust sources, comments left out."""
    texts = []
    for path in sorted(crate_dir.rglob("*.rs")):
        if "target" in path.relative_to(crate_dir).parts:
            continue
        text = path.read_text()
        text = re.sub(r"/\*.*?\*/", "", text, flags=re.DOTALL)
        texts.append(re.sub(r"//[^\n]*", "", text))
    return "\n".join(texts)


def unused(root):
    """[(crate directory, dependency key)] of the dependencies no source names."""
    workspace_deps = tomllib.loads((root / "Cargo.toml").read_text())["workspace"].get(
        "dependencies", {}
    )
    found = []
    for crate_dir in members(root):
        manifest = tomllib.loads((crate_dir / "Cargo.toml").read_text())
        metadata = manifest.get("package", {}).get("metadata", {})
        ignored = set(metadata.get("cargo-machete", {}).get("ignored", []))
        code = code_of(crate_dir)
        for key, spec in declared(manifest).items():
            if key in ignored:
                continue
            name = re.escape(library_name(root, crate_dir, key, spec, workspace_deps))
            used = rf"(?<![\w:$]){name}::|\buse\s+{name}\b|\bextern\s+crate\s+{name}\b"
            if not re.search(used, code):
                found.append((crate_dir.relative_to(root), key))
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=pathlib.Path, default=pathlib.Path(__file__).parent.parent)
    args = parser.parse_args()
    found = unused(args.root.resolve())
    for crate_dir, key in found:
        print(f"unused dependency: {key} in {crate_dir}/Cargo.toml", file=sys.stderr)
    crates = len(members(args.root.resolve()))
    print(f"unused_deps: {len(found)} unused dependencies in {crates} crates")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
