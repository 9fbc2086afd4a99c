#!/usr/bin/env bash
# Static analysis of every contract with slither (from its own tool venv, .venv-slither), through
# the solcjs adapter, with the project's compiler settings. Exits non-zero when any contract has
# a finding of medium or high impact, or when slither cannot analyse it. A finding that is
# accepted must be explained by a `// slither-disable-next-line <detector>` comment at its line.
#
#   tools/slither.sh                  # every contract under contracts/
#   tools/slither.sh contracts/X.sol  # just these
#   SLITHER_ALL=1 tools/slither.sh    # also list low and informational findings (not failing)
set -uo pipefail
cd "$(dirname "$0")/.."

SLITHER=${SLITHER:-.venv-slither/bin/slither}
if [[ ! -x $SLITHER ]]; then
  echo "slither not found: run 'make slither', which installs .venv-slither from tools/slither-requirements.txt" >&2
  exit 2
fi

if [[ $# -gt 0 ]]; then
  files=("$@")
else
  # Interfaces and libraries are analysed through the contracts that use them.
  mapfile -t files < <(find contracts -name '*.sol' -not -path 'contracts/interfaces/*' -not -path 'contracts/libraries/*' | sort)
fi

filter=(--exclude-informational --exclude-low --fail-medium)
[[ -n ${SLITHER_ALL:-} ]] && filter=(--fail-medium)

status=0
for file in "${files[@]}"; do
  echo "== slither $file"
  out=$("$SLITHER" "$file" \
    --solc tools/solc-adapter.js \
    --solc-remaps "@openzeppelin/=node_modules/@openzeppelin/" \
    --solc-args "--evm-version shanghai --optimize --optimize-runs 200" \
    --filter-paths node_modules \
    "${filter[@]}" 2>&1)
  code=$?
  printf '%s\n' "$out" | grep -v -e "running$" -e "^Multiple frameworks detected"
  if [[ $code -ne 0 ]]; then
    status=1
  elif grep -q "Impossible to generate IR\|ERROR:" <<<"$out"; then
    echo "slither could not fully analyse $file" >&2
    status=1
  fi
done
if [[ $status -eq 0 ]]; then
  echo "slither: no medium or high finding in ${#files[@]} contract file(s)"
else
  echo "slither: findings (or analysis errors) above" >&2
fi
exit $status
