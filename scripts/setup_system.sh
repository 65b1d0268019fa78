#!/bin/sh
# System packages the test suite needs (Debian/Ubuntu), installed only when missing:
#   chromium                 headless browser for tests/test_browser.py (every built page opened)
#   fonts-noto-color-emoji   the emoji glyphs the book uses (the execution-statistics marks)
#   fonts-dejavu-core        a complete default font for the screenshots
# Idempotent: does nothing when every package is present. Without root (or apt) it only says
# what is missing; the tests that need a package then skip with that reason.
set -e
PACKAGES="chromium fonts-noto-color-emoji fonts-dejavu-core"
missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if ! command -v apt-get >/dev/null 2>&1 || [ "$(id -u)" != 0 ]; then
    echo "setup_system.sh: missing system packages:$missing (install them with apt as root);" \
         "the tests that need them will skip" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y --no-install-recommends $missing || { apt-get update && apt-get install -y --no-install-recommends $missing; }
