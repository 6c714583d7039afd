#!/usr/bin/env bash
# Style checks the tests run first: `swift format lint --strict` with the committed .swift-format,
# and no line over its 120 columns (swift-format leaves long strings and comments alone). Files
# starting with `// swift-format-ignore-file` (generated ones) are skipped by both.
set -euo pipefail
cd "$(dirname "$0")/.."
swift format lint --strict --recursive --parallel Sources Tests Examples Package.swift
width=$(python3 -c 'import json; print(json.load(open(".swift-format"))["lineLength"])')
long=0
while IFS= read -r file; do
    head -1 "$file" | grep -q 'swift-format-ignore-file' && continue
    if awk -v max="$width" -v f="$file" 'length > max { printf "%s:%d: line is %d columns (max %d)\n", f, FNR, length, max; bad = 1 } END { exit bad }' "$file"; then :; else long=1; fi
done < <(find Sources Tests Examples -name '*.swift' | sort)
[ "$long" -eq 0 ] || { echo "lines over $width columns: wrap them" >&2; exit 1; }
echo "lint: swift format clean, no line over $width columns"
