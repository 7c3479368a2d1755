#!/bin/bash
# Distributed EM on one machine: time per iteration and bytes reduced per iteration vs ranks.
#   bench/mpi_fit_scaling.sh BIN_DIR WORK_DIR N D K COV "RANKSxTHREADS ..." [MAX_ITER]
# e.g. bench/mpi_fit_scaling.sh build-mpi/bin /tmp/mpib 400000 32 64 diag "1x1 2x1 1x2" 8
# Each configuration fits the same --split file (tol 0: exactly MAX_ITER iterations) and reports
# flashgmm-mpi's --json medians: seconds per iteration, allreduce seconds per iteration,
# payload bytes per iteration (the statistics vector, O(K·D) or O(K·D²)) and bytes rank 0 sent.
set -eu
bin=$1 work=$2 n=$3 d=$4 k=$5 cov=$6 configs=$7 iters=${8:-8}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl_vader_single_copy_mechanism=none \
       OMPI_MCA_rmaps_base_oversubscribe=1
mkdir -p "$work"
data="$work/data-$n-$d.npy"
[ -f "$data" ] || "$bin/flashgmm" generate --out "$data" --n "$n" --d "$d" --k "$k" --seed 1 >/dev/null
echo "machine: $(nproc --all) cores, $(lscpu | sed -n 's/^Model name: *//p'); data $n x $d, K=$k, $cov, $iters iterations"
printf "%-8s %9s %12s %12s %10s %14s %14s %16s\n" ranks×thr s/iter allreduce_s speedup reduction payload_B/iter sent_B/iter lower_bound
base=""
for c in $configs; do
  r=${c%x*} t=${c#*x}
  for red in rank-order mpi; do
    out=$(OMP_NUM_THREADS=$t mpirun -np "$r" --bind-to "${BIND:-core}" --map-by "${MAP:-slot}:PE=$t" "$bin/flashgmm-mpi" fit --data "$data" --split --k "$k" \
          --covariance "$cov" --max-iter "$iters" --tol 0 --threads "$t" --reduce "$red" --out "$work/m.gmm" --json --quiet | tail -1)
    get() { sed -n "s/.*\"$1\": \([^,}]*\).*/\1/p" <<<"$out"; }
    s=$(get seconds_per_iteration)
    [ -z "$base" ] && base=$s
    printf "%-8s %9.4f %12.5f %10.2fx %10s %14s %14s %16s\n" "$c" "$s" "$(get allreduce_seconds_per_iteration)" \
      "$(awk -v a="$base" -v b="$s" 'BEGIN { print a / b }')" "$red" "$(get allreduce_payload_bytes_per_iteration)" \
      "$([ "$red" = mpi ] && echo n/a || get bytes_sent_per_iteration_rank0)" "$(get lower_bound)"
    [ "$r" -eq 1 ] && break  # one rank: no reduction to compare
  done
done
