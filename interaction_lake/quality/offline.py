"""Make Great Expectations' Data Docs open without a network.

Its pages load their scripts and styles from six CDNs and a logo from S3 (with the data context's id in the
URL): on a bank's closed network the index page is blank, and every opening tells a third party. After each
render, the pages' CDN references are pointed at local copies under ``local_site/static/vendor/`` -- the same
packages at the same versions, installed from the npm registry by ``make install`` (``web/package.json``,
pinned by ``web/package-lock.json``) -- and the logo at the copy Great Expectations ships in ``static/images``.
Links a reader may click (Great Expectations' documentation) are left alone: nothing loads them.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from pathlib import Path

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
# What each page loads from a CDN, and the file of the installed npm package that is the same thing.
ASSETS = {
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css":
        "@forevolve/bootstrap-dark/dist/css/bootstrap-prefers-dark.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css":
        "bootstrap-datepicker/dist/css/bootstrap-datepicker.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js":
        "bootstrap-datepicker/dist/js/bootstrap-datepicker.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": "@fortawesome/fontawesome-free/css/all.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": "popper.js/dist/umd/popper.min.js",
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery/dist/jquery.min.js",
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": "bootstrap/dist/css/bootstrap.min.css",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": "bootstrap/dist/js/bootstrap.min.js",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css":
        "bootstrap-table/dist/extensions/filter-control/bootstrap-table-filter-control.min.css",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css":
        "bootstrap-table/dist/extensions/filter-control/bootstrap-table-filter-control.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": "bootstrap-table/dist/bootstrap-table.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": "bootstrap-table/dist/bootstrap-table.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js":
        "bootstrap-table/dist/extensions/filter-control/bootstrap-table-filter-control.min.js",
    "https://cdn.jsdelivr.net/npm/vega@5": "vega/build/vega.min.js",
    "https://cdn.jsdelivr.net/npm/vega-lite@5": "vega-lite/build/vega-lite.min.js",
    "https://cdn.jsdelivr.net/npm/vega-embed@6": "vega-embed/build/vega-embed.min.js",
}
EXTRA = ("@fortawesome/fontawesome-free/webfonts",)  # the font files all.min.css names relative to itself
LOGO = re.compile(r"https://great-expectations-web-assets\.s3[^\"')\s]*")
TAG = re.compile(r"<(?:script|link)\b[^>]*>", re.IGNORECASE)
CORS = re.compile(r"""\s+(?:integrity|crossorigin)(?:=["'][^"']*["'])?""", re.IGNORECASE)
LOADED = re.compile(r"""<(?:script|img|link)\b[^>]*?\b(?:src|href)=["'](https?://[^"']+)["']""", re.IGNORECASE)


def assets_dir() -> Path:
    """The installed npm packages: ``$INTERACTION_LAKE_WEB_ASSETS_DIR`` (a deployment's copy) or ``web/node_modules``."""
    return Path(os.environ.get("INTERACTION_LAKE_WEB_ASSETS_DIR") or REPO / "web" / "node_modules")


def localise(site: Path, pages: list[Path]) -> bool:
    """Point ``pages`` of the Data Docs ``site`` at local copies of what they load; False when the assets are not installed."""
    vendor = site / "static" / "vendor"
    if not _vendored(vendor):
        return False
    logo = site / "static" / "images" / "logo-long.png"
    for page in pages:
        html = page.read_text(encoding="utf-8")
        relative = lambda target: Path(os.path.relpath(target, page.parent)).as_posix()  # noqa: E731
        changed = LOGO.sub(relative(logo), html)
        for url, file in ASSETS.items():
            changed = changed.replace(f'"{url}"', f'"{relative(vendor / file)}"')
        changed = TAG.sub(_local_tag, changed)
        if changed != html:
            page.write_text(changed, encoding="utf-8")
    return True


def _local_tag(tag: re.Match) -> str:
    """A tag now loading a local copy drops its CDN's integrity hash and CORS mode: a file:// page cannot satisfy them."""
    text = tag.group(0)
    return CORS.sub("", text) if "static/vendor/" in text else text


def remote_loads(html: str) -> list[str]:
    """What a page would fetch from the network when opened (scripts, styles, images); links are not loads."""
    return LOADED.findall(html)


def _vendored(vendor: Path) -> bool:
    """Copy the assets into the site once (the site may be read where this checkout is not)."""
    source = assets_dir()
    missing = [f for f in ASSETS.values() if not (source / f).is_file()]
    if missing:
        log.warning("Data Docs will load their scripts from CDNs: %s is missing %s (run 'make install')", source, missing[0])
        return False
    for file in [*ASSETS.values(), *EXTRA]:
        target = vendor / file
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if (source / file).is_dir():
            shutil.copytree(source / file, target)
        else:
            shutil.copy2(source / file, target)
    return True
