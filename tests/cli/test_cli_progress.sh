#!/usr/bin/env bash
# Progress of `flashgmm fit`: piped, one plain line per EM iteration and no carriage returns; on
# a terminal also a bar with ETA (redrawn in place on stderr): "<= T" while only --max-iter bounds
# it, "~T" once the shrinking change can be extrapolated to --tol; --no-bar keeps only the lines;
# --quiet prints nothing but the --json line. score, predict and generate draw a bar on a terminal too.
set -euo pipefail
BIN=$1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
. "$(dirname "$0")/lib.sh"

"$BIN" generate --out "$T/d.npy" --n 20000 --d 8 --k 6 --seed 3 >/dev/null
args=(fit --data "$T/d.npy" --k 6 --covariance diag --seed 1 --max-iter 12 --tol 0 --out "$T/m.fgmm")

piped=$("$BIN" "${args[@]}" --json 2>&1)
# Six columns per line, as scripts parse them (bench/python_memmap_fit.py, tests/hardening).
[ "$(echo "$piped" | grep -cE '^ +0 +[0-9]+ +-?[0-9.]+ +[-0-9.e+inf]+ +[0-9.]+ +[0-9]+$')" -eq 12 ] \
  || fail "piped fit: not one six-column line per iteration: $piped"
case "$piped" in *$'\r'*) fail "piped fit wrote carriage returns (a bar) into a pipe" ;; esac
echo "$piped" | grep -q "ETA " && fail "piped fit drew a bar: $piped"
echo "$piped" | grep -q "^initialising (kmeans)" || fail "no line before initialisation: $piped"

quiet=$("$BIN" "${args[@]}" --json --quiet 2>&1)
[ "$(echo "$quiet" | wc -l)" -eq 1 ] || fail "--quiet printed more than the JSON line: $quiet"
echo "$quiet" | json_get n_iter >/dev/null || fail "--quiet --json: no JSON line: $quiet"

# A terminal (script(1) gives the command a pseudo-terminal): the bar with its ETA appears.
if command -v script >/dev/null; then
  tty_out=$(TERM=xterm script -qec "$(printf '%q ' "$BIN" "${args[@]}")" /dev/null)
  echo "$tty_out" | grep -qE "EM: iteration [0-9]+ \[#*\.*\] +[0-9]+%.*ETA (~|<= )[0-9]" || fail "no bar with ETA on a terminal: $tty_out"
  # The bar is erased (\r, ESC[K) before each line: every iteration's line must still be there whole.
  [ "$(echo "$tty_out" | grep -oE ' +0 +[0-9]+ +-[0-9]+\.[0-9]{8} ' | wc -l)" -eq 12 ] \
    || fail "terminal: iteration lines lost: $tty_out"
  conv=$(TERM=xterm script -qec "$(printf '%q ' "$BIN" fit --data "$T/d.npy" --k 6 --covariance diag --seed 1 \
         --tol 1e-5 --out "$T/c.fgmm")" /dev/null)
  echo "$conv" | grep -qE "ETA ~[0-9]" || fail "no extrapolated ETA on a converging fit: $conv"
  no_bar=$(TERM=xterm script -qec "$(printf '%q ' "$BIN" "${args[@]}" --no-bar)" /dev/null)
  echo "$no_bar" | grep -q "ETA " && fail "--no-bar drew a bar: $no_bar"
  dumb=$(TERM=dumb script -qec "$(printf '%q ' "$BIN" "${args[@]}")" /dev/null)
  echo "$dumb" | grep -q "ETA " && fail "TERM=dumb drew a bar: $dumb"
  # score and predict draw a bar on a terminal too, and print the same results as piped.
  tty_score=$(TERM=xterm script -qec "$(printf '%q ' "$BIN" score --model "$T/m.fgmm" --data "$T/d.npy")" /dev/null)
  echo "$tty_score" | grep -q "score \[" || fail "score drew no bar on a terminal: $tty_score"
  piped_score=$("$BIN" score --model "$T/m.fgmm" --data "$T/d.npy")
  echo "$tty_score" | grep -qF "$piped_score" || fail "score differs on a terminal: $tty_score vs $piped_score"
  tty_predict=$(TERM=xterm script -qec "$(printf '%q ' "$BIN" predict --model "$T/m.fgmm" --data "$T/d.npy" \
                --out "$T/l.npy")" /dev/null)
  echo "$tty_predict" | grep -q "predict \[" || fail "predict drew no bar on a terminal: $tty_predict"
  tty_gen=$(TERM=xterm script -qec "$(printf '%q ' "$BIN" generate --out "$T/g.npy" --n 300000 --d 8)" /dev/null)
  echo "$tty_gen" | grep -q "generate \[" || fail "generate drew no bar on a terminal: $tty_gen"
else
  echo "(script(1) not installed: the terminal bar is not exercised)"
fi
echo "cli progress tests: all passed"
