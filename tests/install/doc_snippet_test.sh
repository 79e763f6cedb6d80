#!/usr/bin/env bash
# docs/embedding.md prints docs/examples/embed.cc in full: the ```cpp block
# after the line "<!-- docs/examples/embed.cc -->" must equal the file.
#   usage: doc_snippet_test.sh EMBEDDING_MD EMBED_CC
set -euo pipefail
md=$1 cc=$2
block=$(awk '
  /^<!-- docs\/examples\/embed.cc -->$/ { marked = 1; next }
  marked && /^```cpp$/ { inside = 1; next }
  inside && /^```$/ { exit }
  inside { print }
' "$md")
if [ -z "$block" ]; then
  echo "FAIL: $md has no \`\`\`cpp block after <!-- docs/examples/embed.cc -->"
  exit 1
fi
if ! diff <(printf '%s\n' "$block") "$cc"; then
  echo "FAIL: the snippet in $md differs from $cc (diff above: < doc, > file)"
  exit 1
fi
echo OK
