"""Make docs/report.png: the first screen (1280 x 800) of the demo's report in headless Chromium.

    .venv/bin/python tools/screenshot_report.py                 # runs the demo in a temporary folder
    .venv/bin/python tools/screenshot_report.py --demo-out DIR  # or uses a demo already run into DIR

The picture in the README is therefore what a physician sees on opening the report, made by the same
browser the tests use (tools/headless_chromium.py), never edited by hand.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

from headless_chromium import Chromium  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo-out", type=Path, help="a folder `iahprrt demo -o` wrote (default: run the demo)")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "report.png")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=800)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="iahprrt-screenshot-") as scratch:
        demo = args.demo_out
        if demo is None:
            from iahepaticprrt.cli import main as iahprrt

            demo = Path(scratch) / "demo-out"
            if iahprrt(["demo", "-o", str(demo), "--quiet"]) != 0:
                return 1
        report = demo / "results" / "report.html"
        with Chromium() as browser:
            page = browser.open(report.resolve().as_uri(), args.width, args.height)
            errors = page.errors()
            if errors:
                print("\n".join(errors), file=sys.stderr)
                return 1
            args.output.write_bytes(page.screenshot())
    print(args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
