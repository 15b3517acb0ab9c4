"""The workspace's assets: htmx vendored intact (as scripts/vendor_htmx.sh wrote it), and templates
that keep the strict CSP (scripts only from files, no inline handlers)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from app.web import TEMPLATES_DIR

STATIC = Path(__file__).resolve().parents[3] / "app" / "static"


def test_htmx_is_vendored_with_its_licence_and_checksums() -> None:
    vendor = STATIC / "vendor" / "htmx"
    sums = dict(reversed(line.split("  ", 1)) for line in (vendor / "SHA256SUMS").read_text().splitlines())
    assert set(sums) == {"htmx.esm.js", "LICENSE"}
    for name, digest in sums.items():
        assert hashlib.sha256((vendor / name).read_bytes()).hexdigest() == digest, name
    assert (vendor / "VERSION").read_text().strip().startswith("2.")


def test_templates_have_no_inline_script_or_handler() -> None:
    for template in TEMPLATES_DIR.rglob("*.html"):
        text = template.read_text(encoding="utf-8")
        scripts = re.findall(r"<script\b[^>]*>", text)
        assert all('type="module"' in s and "src=" in s for s in scripts), template
        assert not re.search(r"\son[a-z]+\s*=", text), template  # onclick= … would need 'unsafe-inline'
        assert "hx-on" not in text and "javascript:" not in text, template


def test_workspace_modules_import_files_that_exist() -> None:
    for module in (STATIC / "js" / "workspace").glob("*.js"):
        for target in re.findall(r'from "(\.[^"]+)"', module.read_text(encoding="utf-8")):
            assert (module.parent / target).resolve().is_file(), f"{module.name} imports {target}"
