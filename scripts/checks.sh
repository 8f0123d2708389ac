# Shared by the interop scripts (sourced, not run): counting verdicts and running pkilint.
#
#   pass MESSAGE / fail MESSAGE     print a verdict; fail counts it in $failures
#   lint TOOL ARGS... FILE          a pkilint tool: any ERROR or FATAL finding (or a document
#                                   it cannot load) fails; WARNING and NOTICE are shown
#   finish NAME                     prints "NAME: N failed" and exits 1 when N > 0

failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "ok:   $*"; }

lint() {
  local file=${*: -1} text
  text=$("$@" 2>&1 || true)
  if grep -Eq '\((ERROR|FATAL)\)|Failed to load|Traceback' <<<"$text"; then
    fail "$1 $file:"$'\n'"$text"
  else
    pass "$1 $file (no ERROR/FATAL)"
    grep -E '\((WARNING|NOTICE)\)' <<<"$text" | sed 's/^/      /' || true
  fi
}

finish() {
  echo
  echo "$1: $failures failed"
  [ "$failures" -eq 0 ]
}
