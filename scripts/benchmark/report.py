"""The printed tables and the JSON file of a run."""
from __future__ import annotations

import json

from arrayneedle.serialization import atomic_write

from . import DDIM_STEPS, T_STEPS

def fmt_ms(s):
    return f"{s * 1e3:9.1f}"


def _fmt_times(label, d, width=30):
    a = d["an"]
    line = f"{label:{width}s} arrayneedle {fmt_ms(a['median_s'])} ms (min {a['min_s'] * 1e3:.1f})"
    if "torch" in d:
        t = d["torch"]
        line += (f"   PyTorch {fmt_ms(t['median_s'])} ms (min {t['min_s'] * 1e3:.1f})"
                 f"   ratio {d['ratio_median']:.2f}x (of minima {d['ratio_min']:.2f}x")
        if "ratio_quiet_median" in d:
            line += f", quiet steps {d['ratio_quiet_median']:.2f}x"
        if "ratio_paired" in d:
            line += f", paired rounds {d['ratio_paired']:.2f}x"
        line += ")"
    return line


_TITLES = {"simple": "SimpleUnet", "unet": "Unet (residual, the trainer's default)"}


def print_size_report(size, r):
    title = _TITLES[r.get("model", "simple")]
    print(f"\n=== {title}, {size}x{size}, batch {r['batch']} (medians; arrayneedle / PyTorch) ===")
    tr, sa = r["train"], r["sample"]
    print(_fmt_times("training step", tr))
    print(_fmt_times("sampling step (p_sample)", sa))
    print(f"{'DDIM step':30s} arrayneedle {fmt_ms(sa['ddim_step_s'])} ms")
    print(f"images/s (estimated from per-step time): DDPM (T={T_STEPS}) "
          f"{sa['ddpm_images_per_s']:.4f}   DDIM ({DDIM_STEPS} steps) "
          f"{sa['ddim_images_per_s']:.3f}" +
          (f"   [PyTorch: DDPM {sa['torch_ddpm_images_per_s']:.4f}, DDIM "
           f"{sa['torch_ddim_images_per_s']:.3f}]" if "torch_ddpm_images_per_s" in sa else ""))
    for name, d in (("training", tr), ("sampling", sa)):
        for who in ("an", "torch"):
            if who in d:
                x = d[who]
                extra = ""
                if "foreign_cores" in x:
                    extra = (f"; other processes' CPU during each: "
                             f"{[round(f, 1) for f in x['foreign_cores']]} cores")
                print(f"  {name} samples, {who}: {[round(t * 1e3) for t in x['samples_s']]} ms"
                      + extra)
    ins = r["ops"]
    print(f"\nper op inside one instrumented training step (total {ins['total_s'] * 1e3:.1f} ms; "
          f"phases: " + ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in ins["phases"].items())
          + ")")
    print(f"  {'op':44s} {'calls':>5s} {'fwd ms':>9s} {'bwd ms':>9s} {'total ms':>9s} "
          f"{'share':>6s}")
    for row in ins["ops"]:
        print(f"  {row['op']:44s} {row['calls']:5d} {fmt_ms(row['fwd_s'])} "
              f"{fmt_ms(row['bwd_s'])} {fmt_ms(row['total_s'])} {row['share'] * 100:5.1f}%")
    sops = r.get("sample_ops")
    if sops:
        print(f"\nper op inside one instrumented sampling step (p_sample, no_grad; total "
              f"{sops['total_s'] * 1e3:.1f} ms)")
        for row in sops["ops"]:
            print(f"  {row['op']:44s} {row['calls']:5d} {fmt_ms(row['fwd_s'])} "
                  f"{'':9s} {fmt_ms(row['total_s'])} {row['share'] * 100:5.1f}%")
    print("\n  convolutions in the training step (forward / backward GFLOP/s):")
    for c in ins["convs"]:
        fg = c["fwd_flops"] / c["fwd_s"] / 1e9
        bg = c["bwd_flops"] / c["bwd_s"] / 1e9 if c["bwd_s"] else float("nan")
        print(f"  {c['op']:17s} x{tuple(c['x'])} w{tuple(c['w'])} s{c['stride'][0]} "
              f"p{c['padding'][0]}: {c['fwd_s'] * 1e3:7.2f} / {c['bwd_s'] * 1e3:7.2f} ms  "
              f"{fg:6.1f} / {bg:6.1f}")
    rf = r["roofline"]
    print(f"\nroofline: the step's convolutions do {rf['conv_flops'] / 1e9:.2f} GFLOP in "
          f"{rf['conv_s'] * 1e3:.1f} ms = {rf['conv_gflops']:.1f} GFLOP/s; one {rf['matmul']['n']}"
          f"^2 matmul of the same FLOPs: {rf['matmul']['gflops']:.1f} GFLOP/s -> "
          f"{rf['fraction_of_matmul'] * 100:.0f}% of the matmul rate; the whole step at the "
          f"matmul rate would take {rf['step_at_matmul_rate_s'] * 1e3:.1f} ms")


def print_conv_section(rows):
    print("\n=== conv2d forward+backward (issue 3), x (12, 64, 32, 32), 3x3, padding 1 ===")
    for r in rows:
        line = (f"64->{r['w'][0]:3d}: fwd {r['fwd_s'] * 1e3:6.1f} ms "
                f"({r['fwd_gflops']:5.1f} GFLOP/s)"
                f"  bwd {r['bwd_s'] * 1e3:6.1f} ms ({r['bwd_gflops']:5.1f})"
                f"  fwd+bwd {r['fwd_bwd_gflops']:5.1f} GFLOP/s; matmul n={r['matmul']['n']} "
                f"{r['matmul']['gflops']:5.1f} GFLOP/s -> {r['fraction_of_matmul'] * 100:.0f}%"
                f"  (fwd GEMM-shaped matmul {r['gemm_shaped_gflops']:.1f})")
        if "torch_fwd_bwd_gflops" in r:
            line += f"  [PyTorch fwd+bwd {r['torch_fwd_bwd_gflops']:.1f} GFLOP/s]"
        print(line)


def print_profile(prof, size, top):
    print(f"\n=== cProfile of the training step at {size}x{size} "
          f"(per step, top {top} by own time) ===")
    for row in prof["top"]:
        print(f"  {row['tottime_s'] * 1e3:8.2f} ms own {row['cumtime_s'] * 1e3:8.2f} ms cum "
              f"{row['ncalls']:7.0f} calls  {row['function']}")


def write_json(results, path):
    """All figures to ``path``, atomically: an earlier results file is never left
    half-written."""
    def write(tmp):
        with open(tmp, "w") as f:
            json.dump(results, f, indent=1, default=float)
    atomic_write(path, write)
