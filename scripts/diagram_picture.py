#!/usr/bin/env python3
"""A picture of a diagram as bpmn.io draws it, and its import warnings.

    .venv/bin/python scripts/diagram_picture.py bpmn/appraisal.bpmn docs/images/appraisal.png
    .venv/bin/python scripts/diagram_picture.py bpmn/appraisal_outcome.dmn outcome_table.png --width 2220

A BPMN file is drawn by bpmn-js (node_modules, from `npm ci`), fitted to the picture. A DMN
file's first decision table is drawn by dmn-js, which is not one of Propflow's
dependencies: `npm install --no-save dmn-js` first (or set DMN_JS to a dmn-js package).
Runs Debian's Chromium (scripts/browser.sh installs it) through Playwright. Prints every
warning bpmn.io reports while importing (elements it does not understand, references it
cannot resolve) and exits 1 if there is any, so a diagram Camunda Modeler would open badly
is caught here.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
BPMN_JS = ROOT / "node_modules" / "bpmn-js" / "dist"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]

IMPORT = """async ([xml, fit]) => {
  const viewer = new window[fit ? 'BpmnJS' : 'DmnJS']({container: '#canvas'});
  const result = await viewer.importXML(xml);
  if (fit) {
    viewer.get('canvas').zoom('fit-viewport', 'auto');
  } else {
    const table = viewer.getViews().find(view => view.type === 'decisionTable');
    if (table) await viewer.open(table);
  }
  return result.warnings.map(w => w.message);
}"""


def draw(source: Path, out: Path, width: int, height: int) -> list[str]:
    """Draw ``source`` into ``out``; returns the import warnings."""
    is_bpmn = source.suffix == ".bpmn"
    dist = BPMN_JS if is_bpmn else Path(os.environ.get("DMN_JS", ROOT / "node_modules" / "dmn-js")) / "dist"
    script = dist / ("bpmn-navigated-viewer.production.min.js" if is_bpmn else "dmn-viewer.production.min.js")
    if not script.exists():
        sys.exit(f"{script} is missing: " + ("run npm ci" if is_bpmn else "npm install --no-save dmn-js"))
    styles = (["diagram-js.css", "bpmn-js.css"] if is_bpmn else
              ["diagram-js.css", "dmn-js-shared.css", "dmn-js-decision-table.css", "dmn-font/css/dmn.css"])
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": width, "height": height})
        size = f"width:{width}px;height:{height}px" if is_bpmn else f"width:{width}px"  # a table grows
        page.set_content(f'<html><body style="margin:0;background:#fff"><div id="canvas" style="{size}">'
                         '</div></body></html>')
        for name in styles:
            page.add_style_tag(path=str(dist / "assets" / name))
        page.add_script_tag(path=str(script))
        warnings = page.evaluate(IMPORT, [source.read_text(encoding="utf-8"), is_bpmn])
        page.wait_for_timeout(300)  # fonts
        out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out), full_page=not is_bpmn)
        browser.close()
    return warnings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="a .bpmn or .dmn file")
    parser.add_argument("picture", type=Path, help="the PNG to write")
    parser.add_argument("--width", type=int, default=1900)
    parser.add_argument("--height", type=int, default=900)
    args = parser.parse_args()
    warnings = draw(args.source, args.picture, args.width, args.height)
    for warning in warnings:
        print(f"{args.source}: {warning}")
    print(f"{args.source}: {len(warnings)} import warnings; wrote {args.picture}")
    sys.exit(1 if warnings else 0)


if __name__ == "__main__":
    main()
