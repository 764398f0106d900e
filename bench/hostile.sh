#!/usr/bin/env bash
# How parse and extraction time grow with the size of hostile pages (deep nesting of many
# kinds, the adoption agency, huge attribute counts, long text, `from = "preceding"`, regex
# fields, nested entries, ...): runs `cargo bench --bench hostile` (benches/hostile.rs) and
# prints milliseconds per case and size, and the growth from one size to the next (x4 columns:
# about 4 is linear, about 16 quadratic).
#
#   bash bench/hostile.sh                          # 64 KiB, 256 KiB and 1 MiB pages
#   HOSTILE_CASES=div,table bash bench/hostile.sh  # only cases whose name has these words
#   HOSTILE_SIZES=1048576,4194304 bash bench/hostile.sh
#   HOSTILE_RAW_MAX=0 bash bench/hostile.sh        # skip the unbounded scraper parse
#
# Times are wall times of single runs (best of up to 3): run it on an idle machine.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here/.."
exec cargo bench --quiet --bench hostile
