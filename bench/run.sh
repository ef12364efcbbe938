#!/usr/bin/env bash
# bench/run.sh - every benchmark, one line of figures each (bench/README.md records them).
here=$(cd "$(dirname "$0")" && pwd)
for b in deploy500 corpus_vs_prisma status10k rss_trigger backup1g safety preflight; do "$here/$b.sh" || echo "$b: FAILED"; done
