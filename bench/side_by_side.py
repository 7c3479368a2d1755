#!/usr/bin/env python3
"""Side-by-side E-step benchmark: flashgmm's CUDA kernels and IBM's Flash-GMM Triton kernels on the
same data, the same card, in the same run.

For each shape this script
  1. draws clustered data and mixture parameters with PyTorch on the GPU (seeded),
  2. writes them as .npy files and runs `cuda_estep_bench --npy DIR --type T` (ours: median of
     warm passes on resident data, statistics downloaded to float64 on the host),
  3. times IBM's kernel for that covariance type on the same tensors (whole call, their bf16 casts
     and host-side pre-transforms included; first call = autotune, then triton.testing.do_bench
     median),
  4. computes a float64 reference of N_k, Σ r·x and the second moments on the GPU and prints each
     side's relative error ‖a − ref‖ / ‖ref‖,
and prints one table row per shape with the ratio IBM / ours (> 1: ours faster).

IBM's kernels are only imported from --ibm (a copy of ../shared/anchors/ibm-flash-gmm, Apache-2.0);
nothing of theirs is part of flashgmm.

Usage (on the GPU machine, from the repository root, after building cuda_estep_bench):
  python3 bench/side_by_side.py --ibm .anchors/ibm-flash-gmm [--bench build-dev/bench/cuda_estep_bench]
         [--shapes spherical:1048576:1024:128,diag:1048576:1024:128,...] [--out DIR]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time

import numpy as np
import torch

DEFAULT_SHAPES = ",".join([
    "spherical:1048576:1024:128", "diag:1048576:1024:128",
    "spherical:1048576:1024:96", "diag:1048576:1024:96",
    "spherical:10485760:1024:96", "diag:10485760:1024:96",
    "full:1048576:256:64",
])
LOG_2PI = math.log(2 * math.pi)


def make_problem(kind: str, n: int, k: int, d: int, seed: int):
    """Clustered rows (256 clusters, σ 0.5) and a mixture placed near the clusters."""
    g = torch.Generator(device="cuda").manual_seed(seed)
    clusters, sigma = 256, 0.5
    centres = torch.randn(clusters, d, device="cuda", generator=g)
    x = torch.empty(n, d, device="cuda", dtype=torch.float32)
    step = 1 << 20
    for b in range(0, n, step):
        e = min(n, b + step)
        lab = torch.randint(0, clusters, (e - b,), device="cuda", generator=g)
        x[b:e] = centres[lab] + sigma * torch.randn(e - b, d, device="cuda", generator=g)
    idx = torch.arange(k, device="cuda") % clusters
    mu = centres[idx] + 0.3 * sigma * torch.randn(k, d, device="cuda", generator=g)
    jitter = 0.3 * (2 * torch.rand(k, d, device="cuda", generator=g) - 1)
    if kind == "spherical":
        lss = math.log(sigma**2) + jitter[:, 0].contiguous()  # (K,) log variances
    else:  # diag, and full with diagonal precision factors
        lss = math.log(sigma**2) + jitter  # (K, D)
    log_pi = torch.log_softmax(0.2 * torch.randn(k, device="cuda", generator=g), dim=0)
    return x, mu.contiguous(), lss.contiguous(), log_pi.contiguous()


def reference(kind, x, mu, lss, log_pi):
    """float64 N_k, Σ r x, raw second moments (ours) and centred ones (IBM's sig_acc)."""
    n, d = x.shape
    k = mu.shape[0]
    mu64, lpi = mu.double(), log_pi.double()
    p = torch.exp(-lss.double())
    if kind == "spherical":
        p = p[:, None].expand(k, d)
    log_norm = lpi - 0.5 * d * LOG_2PI + 0.5 * torch.log(p).sum(1)
    c = log_norm - 0.5 * (p * mu64 * mu64).sum(1)
    pm = p * mu64
    nk = torch.zeros(k, dtype=torch.float64, device="cuda")
    sx = torch.zeros(k, d, dtype=torch.float64, device="cuda")
    sxx_diag = torch.zeros(k, d, dtype=torch.float64, device="cuda")
    sxx_full = torch.zeros(k, d * d, dtype=torch.float64, device="cuda") if kind == "full" else None
    ll = 0.0
    step = 8192 if kind == "full" else 65536
    for b in range(0, n, step):
        xb = x[b:b + step].double()
        x2 = xb * xb
        lg = c[None, :] + xb @ pm.T - 0.5 * (x2 @ p.T)
        lz = torch.logsumexp(lg, dim=1, keepdim=True)
        ll += float(lz.sum())
        r = torch.exp(lg - lz)
        nk += r.sum(0)
        sx += r.T @ xb
        sxx_diag += r.T @ x2
        if sxx_full is not None:
            sxx_full += r.T @ (xb[:, :, None] * xb[:, None, :]).reshape(-1, d * d)
    ref = {"nk": nk, "sx": sx, "ll": ll}
    if kind == "spherical":
        ref["sxx"] = sxx_diag.sum(1)
        ref["sig"] = (sxx_diag - 2 * mu64 * sx + mu64 * mu64 * nk[:, None]).sum(1)
    elif kind == "diag":
        ref["sxx"] = sxx_diag
        ref["sig"] = sxx_diag - 2 * mu64 * sx + mu64 * mu64 * nk[:, None]
    else:
        ref["sxx"] = sxx_full.reshape(k, d, d)
        ref["sig"] = ref["sxx"]  # IBM's full kernel returns Σ r x xᵀ (uncentred)
    return ref


def rel(a, ref) -> float:
    a = torch.as_tensor(a, device="cuda").double().reshape(ref.shape)
    return float(torch.linalg.norm((a - ref).flatten()) / torch.linalg.norm(ref.flatten()))


def write_ours_inputs(dirname, kind, x, mu, lss, log_pi):
    os.makedirs(dirname, exist_ok=True)
    n, d = x.shape
    k = mu.shape[0]
    p = torch.exp(-lss.double())
    if kind == "spherical":
        log_norm = log_pi.double() - 0.5 * d * LOG_2PI + 0.5 * d * torch.log(p)
        prec = p.reshape(k, 1)
    elif kind == "diag":
        log_norm = log_pi.double() - 0.5 * d * LOG_2PI + 0.5 * torch.log(p).sum(1)
        prec = p
    else:  # full: precision Cholesky factors, here diagonal (same convention either way)
        log_norm = log_pi.double() - 0.5 * d * LOG_2PI + 0.5 * torch.log(p).sum(1)
        prec = torch.diag_embed(torch.sqrt(p)).reshape(k * d, d)
    np.save(os.path.join(dirname, "x.npy"), x.cpu().numpy())
    np.save(os.path.join(dirname, "means.npy"), mu.cpu().numpy())
    np.save(os.path.join(dirname, "prec.npy"), prec.float().cpu().numpy())
    np.save(os.path.join(dirname, "log_norm.npy"), log_norm.float().reshape(k, 1).cpu().numpy())


def run_ours(bench, dirname, kind, reps, env_setting=""):
    cmd = [bench, "--npy", dirname, "--type", kind, "--reps", str(reps)]
    env = dict(os.environ)
    for part in filter(None, env_setting.split("&")):  # VAR=VALUE[&VAR=VALUE...]
        var, value = part.split("=", 1)
        env[var] = value
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=180)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    line = [l for l in out.stdout.splitlines() if l.startswith("ours:")][-1]
    fields = dict(re.findall(r"(\w+)=(\S+)", line))
    stats = {s: np.load(os.path.join(dirname, f"ours_{s}.npy")) for s in ("nk", "sx", "sxx")}
    return float(fields["median_ms"]), line, stats, (env_setting + " " if env_setting else "") + " ".join(cmd)


def ibm_call(mods, kind, x, mu, lss, log_pi):
    if kind == "spherical":
        return lambda: mods["spherical"].flash_gmm_estep(x, mu, lss, log_pi)
    if kind == "diag":
        return lambda: mods["diag"].flash_gmm_estep_diag(x, mu, lss, log_pi)
    chol = torch.diag_embed(torch.exp(-0.5 * lss)).contiguous()  # (K, D, D), L Lᵀ = Σ⁻¹
    return lambda: mods["full"].flash_gmm_estep_full(x, mu, chol, log_pi)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ibm", required=True, help="folder with IBM's flash_gmm_*_h100.py")
    ap.add_argument("--bench", default="build-dev/bench/cuda_estep_bench")
    ap.add_argument("--shapes", default=DEFAULT_SHAPES, help="comma-separated type:N:K:D")
    ap.add_argument("--reps", type=int, default=15, help="our warm passes per shape")
    ap.add_argument("--work", default="/tmp/flashgmm-sbs", help="scratch folder for the .npy files")
    ap.add_argument("--out", default=os.environ.get("OUT", "."), help="where results.json/.md go")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--ours-variants", default="",
                    help="comma-separated VAR=VALUE[&VAR=VALUE]: also time ours with each setting (same data)")
    args = ap.parse_args()

    import triton
    import triton.testing

    sys.path.insert(0, os.path.abspath(args.ibm))
    import flash_gmm_diag_h100
    import flash_gmm_full_h100
    import flash_gmm_h100
    mods = {"spherical": flash_gmm_h100, "diag": flash_gmm_diag_h100, "full": flash_gmm_full_h100}

    dev = torch.cuda.get_device_name(0)
    print(f"device: {dev}; torch {torch.__version__}, triton {triton.__version__}", flush=True)
    rows = []
    for spec in args.shapes.split(","):
        kind, n, k, d = spec.split(":")
        n, k, d = int(n), int(k), int(d)
        t0 = time.time()
        x, mu, lss, log_pi = make_problem(kind, n, k, d, args.seed)
        dirname = os.path.join(args.work, f"{kind}_{n}_{k}_{d}")
        write_ours_inputs(dirname, kind, x, mu, lss, log_pi)
        ours_ms, ours_line, ours_stats, ours_cmd = run_ours(args.bench, dirname, kind, args.reps)
        print(f"{spec}: data {time.time() - t0:.1f} s; {ours_line}", flush=True)
        variants = {}
        # Variants choose among kernels for wide features (diagonal D > 64, any type D > 128).
        wide = (kind == "diag" and d > 64) or d > 128
        for setting in filter(None, args.ours_variants.split(",") if wide else []):
            try:
                v_ms, v_line, v_stats, _ = run_ours(args.bench, dirname, kind, args.reps, setting)
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                print(f"{spec}: [{setting}] FAILED: {e}", flush=True)
                continue
            variants[setting] = (v_ms, v_stats)
            print(f"{spec}: [{setting}] {v_line}", flush=True)
        shutil.rmtree(dirname, ignore_errors=True)

        fn = ibm_call(mods, kind, x, mu, lss, log_pi)
        torch.cuda.synchronize()
        t1 = time.time()
        out = fn()  # autotune happens here
        torch.cuda.synchronize()
        autotune_s = time.time() - t1
        t1 = time.time()
        fn()
        torch.cuda.synchronize()
        one_ms = (time.time() - t1) * 1e3
        ibm_ms = triton.testing.do_bench(fn, warmup=max(50, 3 * one_ms), rep=max(300, 20 * one_ms),
                                         return_mode="median")
        _, nk_i, mu_acc_i, sig_i = out

        ref = reference(kind, x, mu, lss, log_pi)
        err = {
            "ours_nk": rel(ours_stats["nk"], ref["nk"]), "ours_sx": rel(ours_stats["sx"], ref["sx"]),
            "ours_sxx": rel(ours_stats["sxx"], ref["sxx"]),
            "ibm_nk": rel(nk_i, ref["nk"]), "ibm_sx": rel(mu_acc_i, ref["sx"]),
            "ibm_sig": rel(sig_i, ref["sig"]),
        }
        row = {"type": kind, "n": n, "k": k, "d": d, "ours_ms": ours_ms, "ibm_ms": ibm_ms,
               "ibm_over_ours": ibm_ms / ours_ms, "ibm_autotune_s": autotune_s, "device": dev,
               "ours_line": ours_line, "ours_cmd": ours_cmd, **err, "variants": {}}
        for setting, (v_ms, v_stats) in variants.items():
            row["variants"][setting] = {
                "ms": v_ms, "ibm_over": ibm_ms / v_ms, "nk": rel(v_stats["nk"], ref["nk"]),
                "sx": rel(v_stats["sx"], ref["sx"]), "sxx": rel(v_stats["sxx"], ref["sxx"])}
            print(f"{spec}: [{setting}] ours {v_ms:.3f} ms -> IBM/ours {ibm_ms / v_ms:.2f}x; float64 error "
                  f"N_k {row['variants'][setting]['nk']:.1e} Σrx {row['variants'][setting]['sx']:.1e} "
                  f"2nd {row['variants'][setting]['sxx']:.1e}", flush=True)
        rows.append(row)
        print(f"{spec}: ours {ours_ms:.3f} ms, IBM {ibm_ms:.3f} ms (autotune {autotune_s:.1f} s) -> "
              f"IBM/ours {ibm_ms / ours_ms:.2f}x; float64 error ours N_k {err['ours_nk']:.1e} "
              f"Σrx {err['ours_sx']:.1e} 2nd {err['ours_sxx']:.1e} | IBM N_k {err['ibm_nk']:.1e} "
              f"Σrx {err['ibm_sx']:.1e} sig {err['ibm_sig']:.1e}", flush=True)
        del x, mu, lss, log_pi, out, ref
        torch.cuda.empty_cache()

    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "side_by_side.json"), "w") as f:
        json.dump(rows, f, indent=1)
    lines = [f"device: {dev}", "",
             "| type | N | K | D | ours ms | IBM ms | IBM / ours | ours err N_k / Σrx / 2nd | IBM err N_k / Σrx / sig |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['type']} | {r['n']} | {r['k']} | {r['d']} | {r['ours_ms']:.3f} | {r['ibm_ms']:.3f} | "
                     f"{r['ibm_over_ours']:.2f}x | {r['ours_nk']:.1e} / {r['ours_sx']:.1e} / {r['ours_sxx']:.1e} | "
                     f"{r['ibm_nk']:.1e} / {r['ibm_sx']:.1e} / {r['ibm_sig']:.1e} |")
        for setting, v in r["variants"].items():
            lines.append(f"| ↳ ours with {setting} | | | | {v['ms']:.3f} | | {v['ibm_over']:.2f}x | "
                         f"{v['nk']:.1e} / {v['sx']:.1e} / {v['sxx']:.1e} | |")
    with open(os.path.join(args.out, "side_by_side.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
