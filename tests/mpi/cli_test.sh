#!/bin/bash
# cli_test.sh MPIEXEC NP FLASHGMM_MPI TOOL WORKDIR [FLASHGMM_IVF]: the flashgmm-mpi tool on NP ranks
# (with FLASHGMM_IVF, also `ivf-add` into an index that tool trained).
set -u
mpiexec=$1 np=$2 cli=$3 tool=$4 dir=$5 ivf_tool=${6:-}
here=$(dirname "$0")
mpi=("$mpiexec" -np "$np" --oversubscribe --allow-run-as-root)
rm -rf "$dir" && mkdir -p "$dir" || exit 1
"$tool" shards "$dir" "$np" || exit 1
fail=0
step() { echo "== $*"; }

step "per-rank shards ($np ranks$([ "$np" -ge 3 ] && echo ', rank 1 empty'))"
"${mpi[@]}" "$cli" fit --data "$dir/shard-{rank}.npy" --k 5 --covariance full --out "$dir/shards.gmm" --json || fail=1
"$tool" check "$dir/shards.gmm" "$dir/full.npy" 5 full || fail=1

step "row ranges of one file (--split)"
"${mpi[@]}" "$cli" fit --data "$dir/full.npy" --split --k 5 --covariance diag --reduce mpi --out "$dir/split.gmm" --quiet || fail=1
"$tool" check "$dir/split.gmm" "$dir/full.npy" 5 diag || fail=1

step "a missing shard stops every rank"
"$here/expect_fast_failure.sh" 20 "cannot open" "${mpi[@]}" "$cli" fit --data "$dir/missing-{rank}.npy" --k 5 --out "$dir/x.gmm" || fail=1

step "a NaN in the last rank's shard stops every rank, naming it"
"$here/expect_fast_failure.sh" 20 "rank $((np - 1)): input contains NaN" \
  "${mpi[@]}" "$cli" fit --data "$dir/nan-{rank}.npy" --k 5 --out "$dir/x.gmm" || fail=1

if [ "$np" -ge 2 ]; then
  step "mismatched dimensions stop every rank"
  "$here/expect_fast_failure.sh" 20 "ranks disagree on the data dimension" \
    "${mpi[@]}" "$cli" fit --data "$dir/baddim-{rank}.npy" --k 2 --out "$dir/x.gmm" || fail=1
fi

step "an unwritable model path stops every rank"
"$here/expect_fast_failure.sh" 20 "writing the model" \
  "${mpi[@]}" "$cli" fit --data "$dir/shard-{rank}.npy" --k 5 --covariance diag --out "$dir/no/such/dir/m.gmm" --quiet || fail=1

if [ -n "$ivf_tool" ]; then
  step "ivf-add: every rank's shard multi-assigned into one trained index, merged"
  "$ivf_tool" build --data "$dir/full.npy" --out "$dir/trained.index" --nlist 8 >/dev/null || fail=1
  out=$("${mpi[@]}" "$cli" ivf-add --index "$dir/trained.index" --drop-lists --data "$dir/shard-{rank}.npy" \
        --out "$dir/merged.index") || fail=1
  echo "$out"
  grep -q "^4000 vectors from $np ranks" <<<"$out" || { echo "FAIL: merged index does not hold 4000 vectors"; fail=1; }
  [ -e "$dir/merged.index.gmm" ] && ! ls "$dir"/merged.index.shard-* >/dev/null 2>&1 || { echo "FAIL: files"; fail=1; }
fi

[ -e "$dir/x.gmm" ] && { echo "FAIL: a model was written by a failed fit"; fail=1; }
[ "$fail" -eq 0 ] && echo "ALL PASSED" || echo "SOME FAILED"
exit $fail
