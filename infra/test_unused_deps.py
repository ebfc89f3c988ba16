"""Tests of infra/unused_deps.py on a small workspace written to a temporary directory."""

import pathlib
import sys
import tempfile
import textwrap
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import unused_deps

WORKSPACE = """
[workspace]
members = ["lib", "apps/*"]
[workspace.dependencies]
core-lib = { path = "lib" }
serde_json = "1"
"""
LIB = """
[package]
name = "core-lib"
[lib]
name = "core"
"""
APP = """
[package]
name = "app"
[package.metadata.cargo-machete]
ignored = ["feature_only"]
[dependencies]
core-lib.workspace = true
serde_json.workspace = true
tracing = "0.1"
feature_only = "1"
[dev-dependencies]
reqwest = "0.13"
[target.'cfg(unix)'.dependencies]
libc = "0.2"
"""
APP_SOURCE = """
use core::Thing;
// tracing::info!("only in a comment");
/* reqwest::get */
fn main() { let _ = serde_json::json!({}); let _ = other::tracing::Level::INFO; }
"""


class UnusedDeps(unittest.TestCase):
    def workspace(self, source):
        root = pathlib.Path(tempfile.mkdtemp())
        files = {
            "Cargo.toml": WORKSPACE,
            "lib/Cargo.toml": LIB,
            "apps/app/Cargo.toml": APP,
            "apps/app/src/main.rs": source,
        }
        for path, text in files.items():
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_text(textwrap.dedent(text))
        return root

    def test_reports_what_no_source_names(self):
        found = unused_deps.unused(self.workspace(APP_SOURCE))
        unused = sorted(key for _, key in found)
        # core-lib is used by its library name; tracing only in a comment or under another
        # crate's path; feature_only is ignored by the manifest.
        self.assertEqual(unused, ["libc", "reqwest", "tracing"])

    def test_use_lines_and_extern_crate_count(self):
        source = APP_SOURCE + "use tracing;\nextern crate libc;\nuse reqwest::Client;\n"
        self.assertEqual(unused_deps.unused(self.workspace(source)), [])


if __name__ == "__main__":
    unittest.main()
