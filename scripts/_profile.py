r"""Per-operation profile of a model's forward and backward pass (``benchmark_models.py --profile``).

Time: ``torch.profiler`` over a few forward+backward passes. Each op is attributed to the innermost
``sphere_study::NAME`` range around it (:mod:`sphere_study.harmonics._profiling`: ``fft``, ``wigner_analysis``,
``wigner_synthesis``, ``s2_mm``, ``so3_mm``, ``so3_to_s2_mm``, ``kernel_spectrum``); backward nodes inherit the range
of the forward op that recorded them (same autograd sequence number). Ops outside any range are grouped by kind:
``relu`` (the nonlinearity) and ``other`` (bias, loss, integration, head, checkpoint bookkeeping). Per operation the
table also gives the share of its time spent in matrix products (``gemm``) and in data movement (``copy``:
copies, gathers, concatenations, zero fills, conjugations).

FLOPs: the formulas of :mod:`sphere_study.harmonics._flops` for what the layers execute (azimuthal DFTs as matrix
products, padded Wigner steps, half-output products), summed over the model's correlation layers; the rate is
FLOPs / time as a fraction of the reference GEMM's rate (:class:`_timing.ReferenceGEMM`), measured in the same run.
Times under the profiler are inflated by its bookkeeping; the shares are what to read.
"""

from __future__ import annotations

from collections import defaultdict

import torch
from torch.profiler import ProfilerActivity, profile

from sphere_study.harmonics._profiling import PREFIX
from sphere_study.nn import S2Conv, SO3Conv, SO3ToS2, correlation_flops

GEMM_OPS = {"aten::bmm", "aten::mm", "aten::addmm", "aten::matmul", "aten::baddbmm", "aten::addbmm"}
COPY_OPS = {
    "aten::copy_", "aten::index_select", "aten::index_copy", "aten::index_add_", "aten::index_add", "aten::cat",
    "aten::fill_", "aten::zero_", "aten::where", "aten::_conj_physical", "aten::conj_physical", "aten::clone",
    "aten::contiguous", "aten::index", "aten::index_put_", "aten::_index_put_impl_", "aten::scatter_add_",
    "aten::constant_pad_nd", "aten::stack", "aten::complex", "aten::_to_copy", "aten::resolve_conj",
}  # fmt: skip
OPERATIONS = ["fft", "wigner_analysis", "wigner_synthesis", "s2_mm", "so3_mm", "so3_to_s2_mm", "kernel_spectrum",
              "relu", "other"]  # fmt: skip


def _range_of(event) -> tuple[str | None, int | None]:
    """Innermost sphere_study range above ``event`` and the sequence number of its outermost op / backward node."""
    label, seq, e = None, None, event
    while e is not None:
        if label is None and e.name.startswith(PREFIX):
            label = e.name[len(PREFIX) :]
        if e.name.startswith("autograd::engine::evaluate_function"):
            return label, ("bwd", e.sequence_nr)
        if e.sequence_nr is not None and e.sequence_nr >= 0 and not e.name.startswith(PREFIX):
            seq = e.sequence_nr
        e = e.cpu_parent
    return label, ("fwd", seq)


def attribute(events) -> dict:
    """``{(phase, operation): {"us": total, "gemm_us": ..., "copy_us": ...}}`` from profiler events (self times)."""
    label_of_seq = {}
    rows = []
    for ev in events:
        label, (phase, seq) = _range_of(ev)
        if phase == "fwd" and label is not None and seq is not None:
            label_of_seq.setdefault(seq, label)
        rows.append((ev, label, phase, seq))
    out = defaultdict(lambda: {"us": 0.0, "gemm_us": 0.0, "copy_us": 0.0})
    for ev, label, phase, seq in rows:
        if label is None and phase == "bwd":
            label = label_of_seq.get(seq)
        if label is None:
            top = ev
            while top.cpu_parent is not None and not top.cpu_parent.name.startswith("autograd::engine"):
                top = top.cpu_parent
            label = "relu" if "relu" in top.name.lower() or "threshold" in top.name.lower() else "other"
        cell = out[(phase, label)]
        t = ev.self_cpu_time_total
        cell["us"] += t
        if ev.name in GEMM_OPS:
            cell["gemm_us"] += t
        elif ev.name in COPY_OPS:
            cell["copy_us"] += t
    return out


def model_flops(model: torch.nn.Module, batch: int) -> dict:
    """Forward and backward FLOPs per operation of the model's correlation layers
    (:func:`sphere_study.nn.correlation_flops`; the first layer's input needs no gradient)."""
    fwd, bwd = defaultdict(float), defaultdict(float)
    first = True
    for layer in model.modules():
        if not isinstance(layer, (S2Conv, SO3Conv, SO3ToS2)):
            continue
        flops = correlation_flops(layer, batch, input_requires_grad=not first)
        for op, n in flops["fwd"].items():
            fwd[op] += n
        for op, n in flops["bwd"].items():
            bwd[op] += n
        first = False
    return {"fwd": dict(fwd), "bwd": dict(bwd)}


def profile_model(step, model, batch: int, reference_gflops: float, repeats: int = 1) -> dict:
    """Profile ``step()`` (one forward+backward) ``repeats`` times; per operation and phase: ms per step, share of
    the step, GFLOP, and achieved rate / reference rate."""
    step()  # warm-up: tables, caches
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(repeats):
            step()
    cells = attribute(prof.events())
    flops = model_flops(model, batch)
    total_us = sum(c["us"] for c in cells.values())
    table = []
    for op in OPERATIONS:
        for phase in ("fwd", "bwd"):
            c = cells.get((phase, op))
            if c is None:
                continue
            ms = c["us"] / 1e3 / repeats
            gflop = flops[phase].get(op, 0.0) / 1e9
            table.append({
                "operation": op, "phase": phase, "ms": ms, "share": c["us"] / total_us,
                "gemm_share": c["gemm_us"] / max(c["us"], 1e-9), "copy_share": c["copy_us"] / max(c["us"], 1e-9),
                "gflop": gflop, "rate_vs_reference": (gflop / (ms / 1e3)) / reference_gflops if gflop else None,
            })  # fmt: skip
    return {"total_ms": total_us / 1e3 / repeats, "reference_gflops": reference_gflops, "operations": table}


def format_profile(name: str, result: dict) -> str:
    lines = [
        f"{name}: {result['total_ms']:.0f} ms per fwd+bwd under the profiler; "
        f"reference GEMM {result['reference_gflops']:.1f} GFLOP/s",
        f"  {'operation':18} {'phase':5} {'ms':>8} {'share':>6} {'gemm':>5} {'copy':>5} {'GFLOP':>7} {'rate/ref':>8}",
    ]
    for r in result["operations"]:
        rate = f"{r['rate_vs_reference']:8.3f}" if r["rate_vs_reference"] is not None else f"{'':8}"
        lines.append(
            f"  {r['operation']:18} {r['phase']:5} {r['ms']:8.1f} {100 * r['share']:5.1f}% "
            f"{100 * r['gemm_share']:4.0f}% {100 * r['copy_share']:4.0f}% {r['gflop']:7.2f} {rate}"
        )
    return "\n".join(lines)
