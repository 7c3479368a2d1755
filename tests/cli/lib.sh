# Helpers shared by the CLI test scripts (sourced): a failing check prints FAIL and exits 1.
PY=/usr/bin/python3
fail() { echo "FAIL: $*"; exit 1; }
json_get() { "$PY" -c "import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])['$1'])"; }
# expect_rc RC "<substring of stdout+stderr>" cmd...: the command exits RC and says the substring.
expect_rc() {
  local want_rc=$1 want=$2; shift 2
  local rc=0 msg
  msg=$("$@" 2>&1) || rc=$?
  [ "$rc" -eq "$want_rc" ] || fail "exit $rc, not $want_rc: $* -> $msg"
  echo "$msg" | grep -qF -- "$want" || fail "message for '$*' lacks '$want': $msg"
}
