#!/usr/bin/env python3
"""Roofline of one DeepSeek-V2 forward step, kernel by kernel (issue 12, "Measure").

For every kernel of the forward pass: bytes moved and FLOPs per call, and the time a GPU needs
at its roofline, t = max(bytes / HBM bandwidth, FLOPs / dense bf16 peak). Prints markdown.

    python3 scripts/roofline.py [configs/models/deepseek-v2-236b.json] [--tp 8] ...

Counting rules (they are the table's contract; docs/cuda.md repeats them):
- bytes = compulsory traffic: every weight read once, every input read once, every output
  written once; nothing re-read, no split-K/split-KV partials, no launch cost.
- dtypes follow runtime/model in bf16 mode: weights, activations and the latent cache bf16 (2 B);
  the residual stream f32 (4 B), so o_proj and the MoE combine write f32 updates; router logits
  and lm_head logits f32; TP partials f32.
- T = tokens in the step; R = rows that need logits (decode: T, prefill: 1).
- FLOPs: 2 per multiply-add; elementwise work is a small per-element constant (named in each
  function). All FLOPs are held against the tensor-core peak; the elementwise kernels are
  memory-bound by orders of magnitude either way.
- TP t: each GPU holds 1/t of the heads, of the dense/shared MLP widths, of the vocabulary and
  (EP = t) of the routed experts; replicated parts (q_a_proj, kv_a_proj_with_mqa, norms, MoE
  gate, the whole latent cache) are computed in full on every GPU. The per-GPU time is the
  step time; collectives run on the compute stream (no overlap).
- Kernels run one after another: a step's time is the sum of its kernels' times.
"""

import argparse
import json
import math
import os
import sys
from dataclasses import dataclass

BF16 = 2  # bytes: weights, activations, latent cache
F32 = 4   # bytes: residual stream, partials, logits


# ---------------------------------------------------------------------------------------------
# Inputs: the model (from the HF config), one step's shape, one GPU's share under TP/EP.

@dataclass(frozen=True)
class Model:
    hidden: int
    layers: int
    dense_layers: int       # layers < first_k_dense_replace (or off moe_layer_freq) use a dense MLP
    inter: int              # dense MLP width
    heads: int
    q_lora: int             # 0: no q compression (V2-Lite), q = x · q_proj
    kv_lora: int
    nope: int
    rope: int
    v: int
    experts: int            # routed
    top_k: int
    n_group: int
    topk_group: int
    group_limited: bool
    shared_inter: int       # n_shared_experts · moe_intermediate_size (one MLP)
    moe_inter: int
    vocab: int

    @staticmethod
    def from_config(c):
        layers = c["num_hidden_layers"]
        first_dense = c.get("first_k_dense_replace", 0)
        freq = c.get("moe_layer_freq", 1)
        routed = c.get("n_routed_experts") or 0
        moe_layers = sum(1 for l in range(layers) if routed and l >= first_dense and l % freq == 0)
        method = c.get("topk_method", "greedy")
        return Model(
            hidden=c["hidden_size"], layers=layers, dense_layers=layers - moe_layers,
            inter=c["intermediate_size"], heads=c["num_attention_heads"],
            q_lora=c.get("q_lora_rank") or 0, kv_lora=c["kv_lora_rank"],
            nope=c["qk_nope_head_dim"], rope=c["qk_rope_head_dim"], v=c["v_head_dim"],
            experts=routed, top_k=c.get("num_experts_per_tok") or 0,
            n_group=c.get("n_group") or 1, topk_group=c.get("topk_group") or 1,
            group_limited=method == "group_limited_greedy",
            shared_inter=(c.get("n_shared_experts") or 0) * c["moe_intermediate_size"],
            moe_inter=c["moe_intermediate_size"], vocab=c["vocab_size"])

    @property
    def moe_layers(self):
        return self.layers - self.dense_layers

    @property
    def latent(self):  # values cached per token per layer: c_kv | k_pe
        return self.kv_lora + self.rope


@dataclass(frozen=True)
class Case:
    name: str
    seqs: int        # sequences in the step
    new: int         # new tokens per sequence
    past: int        # cached tokens per sequence before the step
    logit_rows: int  # R

    @property
    def T(self):
        return self.seqs * self.new

    @property
    def ctx(self):  # latent rows a sequence's attention reads (its past and its new tokens)
        return self.past + self.new

    @property
    def pairs(self):  # (query, key) pairs per sequence, causal: query i sees past + i + 1 keys
        return self.new * self.past + self.new * (self.new + 1) // 2


@dataclass(frozen=True)
class Shard:
    """One GPU's share of the work under TP t (EP = t for the routed experts)."""
    tp: int
    heads: int
    inter: int         # dense MLP width held
    shared_inter: int  # shared-expert width held
    vocab: int         # vocabulary rows held
    experts: float     # routed experts this GPU reads (busiest GPU)
    assign: float      # (token, expert) assignments this GPU runs (busiest GPU)


def experts_touched(m, T):
    # Uniform routing: a token picks a given expert with p = k/n, tokens independently:
    # E[touched] = n · (1 − (1 − k/n)^T)   (exactly k for T = 1).
    return m.experts * (1 - (1 - m.top_k / m.experts) ** T)


def routed_load(m, T, ep):
    """(experts read, assignments run) on the busiest of ep GPUs.

    T > 1: the mean, E[touched]/ep and T·k/ep (balanced; the true busiest GPU is a little worse).
    T = 1: one token's k experts lie on at most min(k, ep) GPUs, and with group-limited routing
    whose groups sit inside one GPU's block (n_group % ep == 0) on at most topk_group GPUs, so
    the busiest GPU holds at least ceil(k / that) of them (236B, EP 8: 6 on <= 3 GPUs -> 2).
    """
    if T > 1:
        return experts_touched(m, T) / ep, T * m.top_k / ep
    gpus = min(m.top_k, ep)
    if m.group_limited and m.n_group % ep == 0:
        gpus = min(gpus, m.topk_group)
    busiest = math.ceil(m.top_k / gpus)
    return busiest, busiest


def make_shard(m, case, tp):
    for what, n in (("heads", m.heads), ("intermediate_size", m.inter),
                    ("shared experts' width", m.shared_inter), ("routed experts", m.experts)):
        if n % tp:
            sys.exit(f"roofline: tp {tp} does not divide {what} ({n})")
    experts, assign = routed_load(m, case.T, tp) if m.experts else (0, 0)
    return Shard(tp=tp, heads=m.heads // tp, inter=m.inter // tp,
                 shared_inter=m.shared_inter // tp, vocab=-(-m.vocab // tp),
                 experts=experts, assign=assign)


@dataclass(frozen=True)
class Hardware:
    bw: float    # HBM bytes/s
    peak: float  # dense bf16 FLOP/s
    link: float  # NVLink bytes/s per direction per GPU


@dataclass(frozen=True)
class Cost:
    bytes: float
    flops: float


def gemm(T, K, N, w=BF16, a_in=BF16, a_out=BF16):
    # y[T,N] = x[T,K] · W[N,K]ᵀ: bytes = N·K·w + T·K·a_in + T·N·a_out, FLOPs = 2·T·K·N
    return Cost(N * K * w + T * K * a_in + T * N * a_out, 2 * T * K * N)


# ---------------------------------------------------------------------------------------------
# Kernels. Each takes (model m, case c, shard s) and returns the Cost of ONE call on one GPU.

def embedding(m, c, s):
    # read T rows of embed_tokens (bf16; under TP each GPU reads only its rows, <= T), write the
    # f32 residual: bytes = T·H·2 + T·H·4, FLOPs = 0
    return Cost(c.T * m.hidden * (BF16 + F32), 0)


def rms_norm(m, c, s):
    # f32 residual in, bf16 out, weight once: bytes = T·H·(4 + 2) + H·2, FLOPs = 4·T·H
    # (square, sum, scale, weight)
    return Cost(c.T * m.hidden * (F32 + BF16) + m.hidden * BF16, 4 * c.T * m.hidden)


def q_a_proj(m, c, s):
    # replicated: x[T,H] · q_a_proj[q_lora,H]ᵀ
    return gemm(c.T, m.hidden, m.q_lora)


def q_a_layernorm(m, c, s):
    # bf16 in place on c_q[T,q_lora]: bytes = T·q_lora·(2 + 2) + q_lora·2, FLOPs = 4·T·q_lora
    return Cost(c.T * m.q_lora * 2 * BF16 + m.q_lora * BF16, 4 * c.T * m.q_lora)


def q_b_proj(m, c, s):
    # heads split: c_q[T,q_lora] · q_b_proj[heads/t·(nope+rope), q_lora]ᵀ
    return gemm(c.T, m.q_lora, s.heads * (m.nope + m.rope))


def q_proj(m, c, s):
    # no q compression (V2-Lite): x[T,H] · q_proj[heads/t·(nope+rope), H]ᵀ
    return gemm(c.T, m.hidden, s.heads * (m.nope + m.rope))


def kv_a_proj_with_mqa(m, c, s):
    # replicated: x[T,H] · kv_a_proj[kv_lora+rope, H]ᵀ
    return gemm(c.T, m.hidden, m.latent)


def kv_a_layernorm(m, c, s):
    # c_kv[T,kv_lora] bf16 -> bf16: bytes = T·kv_lora·(2 + 2) + kv_lora·2, FLOPs = 4·T·kv_lora
    return Cost(c.T * m.kv_lora * 2 * BF16 + m.kv_lora * BF16, 4 * c.T * m.kv_lora)


def rope(m, c, s):
    # in place on q_pe[T,heads/t,rope] and k_pe[T,rope]: bytes = T·(heads/t + 1)·rope·(2 + 2),
    # FLOPs = 3 per element (a pair takes 4 mul + 2 add); cos/sin made in registers, not read
    n = c.T * (s.heads + 1) * m.rope
    return Cost(n * 2 * BF16, 3 * n)


def cache_write(m, c, s):
    # replicated (every TP GPU holds the whole latent cache): read c_kv|k_pe, write the bf16
    # cache rows: bytes = T·(kv_lora+rope)·(2 + 2), FLOPs = 0
    return Cost(c.T * m.latent * 2 * BF16, 0)


def mla_absorb_q(m, c, s):
    # q_lat[T,h,kv_lora] = q_nope[T,h,nope] · W_UK_h[nope,kv_lora], h = heads/t (batched GEMM):
    # bytes = h·nope·kv_lora·2 + T·h·nope·2 + T·h·kv_lora·2, FLOPs = 2·T·h·nope·kv_lora
    h = s.heads
    return Cost(h * m.nope * m.kv_lora * BF16 + c.T * h * (m.nope + m.kv_lora) * BF16,
                2 * c.T * h * m.nope * m.kv_lora)


def mla_attention(m, c, s):
    # Absorbed MLA over the latent cache, all h = heads/t heads of a sequence share one pass
    # over its cache: per sequence, P = (query, key) pairs (decode: ctx; prefill from 0 causal:
    # T(T+1)/2).
    # bytes = seqs·ctx·(kv_lora+rope)·2          cache, read once per sequence (whole cache
    #                                             on every TP GPU)
    #       + T·h·(kv_lora+rope)·2                q_lat | q_pe in
    #       + T·h·kv_lora·2                       o_lat out
    # FLOPs = seqs·h·P·(2·(kv_lora+rope)         score = q_lat·c_kv + q_pe·k_pe
    #                   + 5                       scale, max, exp, sum (online softmax)
    #                   + 2·kv_lora)              o_lat += p·c_kv
    h = s.heads
    by = (c.seqs * c.ctx * m.latent + c.T * h * (m.latent + m.kv_lora)) * BF16
    fl = c.seqs * h * c.pairs * (2 * m.latent + 5 + 2 * m.kv_lora)
    return Cost(by, fl)


def mla_absorb_o(m, c, s):
    # o[T,h,v] = o_lat[T,h,kv_lora] · W_UV_hᵀ[kv_lora,v] (batched GEMM):
    # bytes = h·v·kv_lora·2 + T·h·kv_lora·2 + T·h·v·2, FLOPs = 2·T·h·kv_lora·v
    h = s.heads
    return Cost(h * m.v * m.kv_lora * BF16 + c.T * h * (m.kv_lora + m.v) * BF16,
                2 * c.T * h * m.kv_lora * m.v)


def o_proj(m, c, s):
    # input columns split: o[T,h·v] · o_proj[H, h·v]ᵀ, f32 out (residual update / TP partial)
    return gemm(c.T, s.heads * m.v, m.hidden, a_out=F32)


def residual_add(m, c, s):
    # h += update, both f32: bytes = T·H·(4 + 4 + 4), FLOPs = T·H
    return Cost(c.T * m.hidden * 3 * F32, c.T * m.hidden)


def dense_gate_up(m, c, s):
    # gate_proj and up_proj as one GEMM, rows split: x[T,H] · [gate|up][2·inter/t, H]ᵀ
    return gemm(c.T, m.hidden, 2 * s.inter)


def silu_mul_rows(rows, width):
    # out = SiLU(gate)·up: bytes = rows·width·(2 + 2 + 2), FLOPs = 5·rows·width
    # (SiLU = x / (1 + exp(−x)) ~ 4, the product 1)
    return Cost(rows * width * 3 * BF16, 5 * rows * width)


def dense_silu_mul(m, c, s):
    return silu_mul_rows(c.T, s.inter)


def dense_down(m, c, s):
    # columns split: a[T,inter/t] · down_proj[H, inter/t]ᵀ, f32 out
    return gemm(c.T, s.inter, m.hidden, a_out=F32)


def moe_gate(m, c, s):
    # replicated: x[T,H] · gate[n_routed,H]ᵀ, f32 router logits
    return gemm(c.T, m.hidden, m.experts, a_out=F32)


def moe_route(m, c, s):
    # softmax over n_routed, group max, top groups, top-k, scaling: read T·n·4, write ids and
    # weights T·k·(4 + 4); FLOPs ~ 10·T·n (negligible either way)
    return Cost(c.T * m.experts * F32 + c.T * m.top_k * (4 + F32), 10 * c.T * m.experts)


def moe_permute(m, c, s):
    # gather this GPU's (token, expert) rows in expert order: read min(T, A) token rows, write
    # A rows, A = assignments on this GPU: bytes = (min(T, A) + A)·H·2, FLOPs = 0
    return Cost((min(c.T, s.assign) + s.assign) * m.hidden * BF16, 0)


def experts_gate_up(m, c, s):
    # grouped GEMM over the E active experts (E = experts this GPU reads, see routed_load):
    # bytes = E·2·moe_inter·H·2 + A·H·2 + A·2·moe_inter·2, FLOPs = 2·A·H·2·moe_inter
    w = 2 * m.moe_inter
    return Cost(s.experts * w * m.hidden * BF16 + s.assign * (m.hidden + w) * BF16,
                2 * s.assign * m.hidden * w)


def experts_silu_mul(m, c, s):
    return silu_mul_rows(s.assign, m.moe_inter)


def experts_down(m, c, s):
    # bytes = E·H·moe_inter·2 + A·moe_inter·2 + A·H·2, FLOPs = 2·A·moe_inter·H
    return Cost(s.experts * m.hidden * m.moe_inter * BF16
                + s.assign * (m.moe_inter + m.hidden) * BF16,
                2 * s.assign * m.moe_inter * m.hidden)


def shared_gate_up(m, c, s):
    # the n_shared experts as one MLP, rows split: x[T,H] · [gate|up][2·shared/t, H]ᵀ
    return gemm(c.T, m.hidden, 2 * s.shared_inter)


def shared_silu_mul(m, c, s):
    return silu_mul_rows(c.T, s.shared_inter)


def shared_down(m, c, s):
    # columns split: a[T,shared/t] · down_proj[H, shared/t]ᵀ, bf16 out (read once by combine)
    return gemm(c.T, s.shared_inter, m.hidden)


def moe_combine(m, c, s):
    # y[t] = Σ_j w_tj · y_e[t,j] + shared[t], f32 out:
    # bytes = A·(H·2 + 4) + T·H·2 + T·H·4, FLOPs = 2·A·H + T·H
    return Cost(s.assign * (m.hidden * BF16 + F32) + c.T * m.hidden * (BF16 + F32),
                2 * s.assign * m.hidden + c.T * m.hidden)


def final_norm(m, c, s):
    # on the R rows that need logits only (gathered first): as rms_norm with T -> R
    R = c.logit_rows
    return Cost(R * m.hidden * (F32 + BF16) + m.hidden * BF16, 4 * R * m.hidden)


def lm_head(m, c, s):
    # vocabulary rows split: x[R,H] · lm_head[vocab/t, H]ᵀ, f32 logits
    return gemm(c.logit_rows, m.hidden, s.vocab, a_out=F32)


def sampling(m, c, s):
    # on the full logits[R,vocab] f32, one pass (greedy/temperature; top-p may need more):
    # bytes = R·vocab·4, FLOPs ~ 5·R·vocab (max, exp, sum, scale, pick)
    return Cost(c.logit_rows * m.vocab * F32, 5 * c.logit_rows * m.vocab)


# Collectives (TP only): seconds, not a Cost; bandwidth term only, latency not modelled.

def all_reduce(m, c, s, link):
    # ring all-reduce of f32 partials[T,H]: bytes = T·H·4, each GPU sends 2(t−1)/t of them over
    # `link` bytes/s per direction: t = 2(t−1)/t · T·H·4 / link
    n = s.tp
    return 2 * (n - 1) / n * c.T * m.hidden * F32 / link


def logits_gather(m, c, s, link):
    # ring all-gather of f32 logits[R, vocab/t] blocks: t = (t−1)/t · R·vocab·4 / link
    n = s.tp
    return (n - 1) / n * c.logit_rows * m.vocab * F32 / link


# ---------------------------------------------------------------------------------------------
# The step: (name, calls per step, kernel). Calls count layers; ×2 where a layer calls twice.

def step_kernels(m):
    L, D, E = m.layers, m.dense_layers, m.moe_layers
    # vocabulary-parallel embedding: each GPU fills its rows, one all-reduce completes the lookup
    rows = [("embedding", 1, embedding), ("all-reduce after embedding", 1, all_reduce)]
    rows.append(("rms_norm (input + post-attention)", 2 * L, rms_norm))
    if m.q_lora:
        rows += [("q_a_proj", L, q_a_proj), ("q_a_layernorm", L, q_a_layernorm),
                 ("q_b_proj", L, q_b_proj)]
    else:
        rows.append(("q_proj", L, q_proj))
    rows += [("kv_a_proj_with_mqa", L, kv_a_proj_with_mqa), ("kv_a_layernorm", L, kv_a_layernorm),
             ("rope (q_pe, k_pe)", L, rope), ("latent cache write", L, cache_write),
             ("MLA q_nope·W_UK (absorb)", L, mla_absorb_q),
             ("MLA attention (absorbed, causal)", L, mla_attention),
             ("MLA o_lat·W_UV", L, mla_absorb_o), ("o_proj", L, o_proj),
             ("all-reduce after o_proj", L, all_reduce),
             ("residual add", 2 * L, residual_add)]
    if D:
        rows += [("dense MLP gate/up", D, dense_gate_up),
                 ("dense MLP SiLU·mul", D, dense_silu_mul),
                 ("dense MLP down", D, dense_down), ("all-reduce after MLP", D, all_reduce)]
    if E:
        rows += [("MoE gate linear", E, moe_gate), ("MoE routing (softmax, top-k)", E, moe_route),
                 ("MoE permute tokens", E, moe_permute),
                 ("experts gate/up (grouped)", E, experts_gate_up),
                 ("experts SiLU·mul", E, experts_silu_mul),
                 ("experts down (grouped)", E, experts_down)]
        if m.shared_inter:
            rows += [("shared experts gate/up", E, shared_gate_up),
                     ("shared experts SiLU·mul", E, shared_silu_mul),
                     ("shared experts down", E, shared_down)]
        rows += [("MoE combine (+ shared)", E, moe_combine),
                 ("all-reduce after MoE", E, all_reduce)]
    rows += [("final norm", 1, final_norm), ("lm_head", 1, lm_head),
             ("logits all-gather", 1, logits_gather), ("sampling", 1, sampling)]
    return rows


COLLECTIVES = (all_reduce, logits_gather)


def roofline(cost, hw):
    # t = max(bytes / BW, FLOPs / peak); the larger term names the bound
    tm, tc = cost.bytes / hw.bw, cost.flops / hw.peak
    return max(tm, tc), ("mem" if tm >= tc else "compute")


@dataclass
class Row:
    name: str
    calls: int
    cost: Cost      # per call (None for a collective)
    t: float        # seconds per call
    bound: str


def evaluate(m, case, tp, hw):
    s = make_shard(m, case, tp)
    out = []
    for name, calls, fn in step_kernels(m):
        if fn in COLLECTIVES:
            if tp == 1:
                continue
            out.append(Row(name, calls, None, fn(m, case, s, hw.link), "link"))
            continue
        cost = fn(m, case, s)
        out.append(Row(name, calls, cost, *roofline(cost, hw)))
    return s, out


# ---------------------------------------------------------------------------------------------
# Printing.

def si(x, unit):
    if x == 0:
        return "0"
    for p, f in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= f:
            return f"{x / f:.3g} {p}{unit}"
    return f"{x:.3g} {unit}".strip()


def us(t):
    t *= 1e6
    return "<0.01" if t < 0.01 else f"{t:.3g}" if t < 1000 else f"{t:,.0f}"


def totals(rows):
    kern = sum(r.calls * r.t for r in rows if r.cost)
    comm = sum(r.calls * r.t for r in rows if not r.cost)
    by = sum(r.calls * r.cost.bytes for r in rows if r.cost)
    fl = sum(r.calls * r.cost.flops for r in rows if r.cost)
    return kern, comm, by, fl


def print_case(m, case, tp, hw):
    _, one = evaluate(m, case, 1, hw)
    s, many = evaluate(m, case, tp, hw)
    print(f"### {case.name}\n")
    print(f"T = {case.T} tokens, R = {case.logit_rows} logit rows; routed experts read per MoE "
          f"layer: {s_experts(m, case, 1):.4g} on 1 GPU, {s.experts:.4g} on the busiest of "
          f"{tp} GPUs, (token, expert) assignments {case.T * m.top_k} / {s.assign:.4g}.\n")
    print(f"| kernel | calls/step | bytes/call | FLOPs/call | µs/call | bound | µs/step "
          f"| TP {tp}: bytes/call/GPU | FLOPs/call/GPU | µs/call | bound | µs/step |")
    print("| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | --- | ---: |")
    for r in many:
        a = next((x for x in one if x.name == r.name), None)
        left = ("| — | — | — | — | — " if a is None else
                f"| {si(a.cost.bytes, 'B')} | {si(a.cost.flops, '')} | {us(a.t)} | {a.bound} "
                f"| {us(a.calls * a.t)} ")
        right = (f"| — | — | {us(r.t)} | {r.bound} | {us(r.calls * r.t)} |"
                 if r.cost is None else
                 f"| {si(r.cost.bytes, 'B')} | {si(r.cost.flops, '')} | {us(r.t)} | {r.bound} "
                 f"| {us(r.calls * r.t)} |")
        print(f"| {r.name} | {r.calls} " + left + right)
    print()
    return totals(one), totals(many)


def s_experts(m, case, tp):
    return routed_load(m, case.T, tp)[0] if m.experts else 0


def naive_prefill_note(m, case):
    # The non-absorbed form for comparison: decompress K_nope, V per head with kv_b_proj over the
    # ctx cached rows (2·ctx·kv_lora·heads·(nope+v)), then attention with head dims nope+rope
    # (scores) and v (values): heads·P·(2·(nope+rope) + 5 + 2·v).
    decomp = 2 * case.seqs * case.ctx * m.kv_lora * m.heads * (m.nope + m.v)
    attn = case.seqs * m.heads * case.pairs * (2 * (m.nope + m.rope) + 5 + 2 * m.v)
    s = make_shard(m, case, 1)
    absorbed = sum(f(m, case, s).flops for f in (mla_absorb_q, mla_attention, mla_absorb_o))
    return decomp + attn, absorbed


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("config", nargs="?",
                    default=os.path.join(here, "..", "configs", "models", "deepseek-v2-236b.json"))
    ap.add_argument("--tp", type=int, default=8, help="TP (= EP) size for the sharded column")
    ap.add_argument("--batch", type=int, default=64, help="the larger decode batch")
    ap.add_argument("--context", type=int, default=4096, help="decode: latent rows per sequence")
    ap.add_argument("--prefill", type=int, default=4096, help="prefill: tokens of one sequence")
    ap.add_argument("--bw", type=float, default=3.35e12, help="HBM bytes/s (H100 SXM)")
    ap.add_argument("--peak", type=float, default=989e12, help="dense bf16 FLOP/s (H100 SXM)")
    ap.add_argument("--link", type=float, default=450e9,
                    help="NVLink bytes/s per direction per GPU (H100: 900 GB/s total)")
    ap.add_argument("--check", action="store_true",
                    help="only run the hand-checked asserts (236B config)")
    a = ap.parse_args()

    with open(a.config) as f:
        m = Model.from_config(json.load(f))
    hw = Hardware(bw=a.bw, peak=a.peak, link=a.link)
    if a.check:
        return self_check(m, hw)
    cases = [Case(f"Decode, batch 1, context {a.context}", 1, 1, a.context - 1, 1),
             Case(f"Decode, batch {a.batch}, context {a.context} per sequence", a.batch, 1,
                  a.context - 1, a.batch),
             Case(f"Prefill, {a.prefill} tokens of one sequence from position 0",
                  1, a.prefill, 0, 1)]

    print(f"<!-- generated by: python3 scripts/roofline.py {os.path.relpath(a.config)} --tp {a.tp} "
          f"--batch {a.batch} --context {a.context} --prefill {a.prefill} -->\n")
    print(f"Hardware: {a.bw / 1e12:g} TB/s HBM, {a.peak / 1e12:g} TFLOP/s dense bf16 "
          f"(ridge {a.peak / a.bw:.0f} FLOP/B), NVLink {a.link / 1e9:g} GB/s per direction. "
          f"Model: {m.layers} layers ({m.dense_layers} dense), hidden {m.hidden}, {m.heads} heads, "
          f"{m.experts} routed experts top-{m.top_k}, vocab {m.vocab}. "
          f"\"mem\"/\"compute\": which term of max(bytes/BW, FLOPs/peak) sets the time.\n")
    summary = []
    for case in cases:
        summary.append((case, *print_case(m, case, a.tp, hw)))

    print("### Per-step totals\n")
    print(f"| case | 1 GPU: bytes | FLOPs | ms/step | tokens/s "
          f"| TP {a.tp} per GPU: bytes | FLOPs | kernels ms | collectives ms | ms/step "
          f"| tokens/s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for case, (k1, _, b1, f1), (kn, cn, bn, fn) in summary:
        tok = case.T
        print(f"| {case.name} | {si(b1, 'B')} | {si(f1, '')} | {k1 * 1e3:.3g} | {tok / k1:,.0f} "
              f"| {si(bn, 'B')} | {si(fn, '')} | {kn * 1e3:.3g} | {cn * 1e3:.3g} "
              f"| {(kn + cn) * 1e3:.3g} | {tok / (kn + cn):,.0f} |")
    print()
    pre = cases[2]
    naive, absorbed = naive_prefill_note(m, pre)
    print(f"Prefill attention form: the table uses the absorbed form (scores over kv_lora+rope = "
          f"{m.latent} dims, values over kv_lora = {m.kv_lora}) with causal pairs "
          f"T(T+1)/2 = {pre.pairs:,}: {si(absorbed, 'FLOP')} per layer (W_UK + attention + W_UV) "
          f"on 1 GPU. The naive form (kv_b_proj decompresses K, V per head, then head dims "
          f"{m.nope + m.rope}/{m.v}) needs {si(naive, 'FLOP')} per layer, "
          f"{absorbed / naive:.2g}× fewer (plus writing the decompressed K, V), which is why "
          f"long prefills may prefer it (docs: DESIGN.md, Model math).")


def self_check(m, hw):
    # Hand-checked figures (236B): batch-1 decode of q_b_proj reads 1536 × 128 × 192 × 2 bytes
    # of weights = 75.5 MB -> 22.5 µs at 3.35 TB/s; 4096-token prefill o_proj does
    # 2 × 4096 × 16384 × 5120 = 687 GFLOP -> 695 µs at 989 TFLOP/s.
    b1 = Case("b1", 1, 1, 4095, 1)
    c = q_b_proj(m, b1, make_shard(m, b1, 1))
    assert abs(c.bytes - (1536 * 128 * 192 * 2 + 1536 * 2 + 128 * 192 * 2)) < 1, c
    t, bound = roofline(c, hw)
    assert abs(t * 1e6 - 22.5) < 0.1 and bound == "mem", (t, bound)
    pre = Case("prefill", 1, 4096, 0, 1)
    c = o_proj(m, pre, make_shard(m, pre, 1))
    assert c.flops == 2 * 4096 * 16384 * 5120, c
    t, bound = roofline(c, hw)
    assert abs(t * 1e6 - 695) < 1 and bound == "compute", (t, bound)
    # batch-1 MLA attention: 4096·576·2 + 128·576·2 + 128·512·2 B = 5.00 MB -> 1.49 µs,
    # memory bound over 128·4096·(2·576 + 5 + 2·512) FLOPs -> 1.16 µs
    c = mla_attention(m, b1, make_shard(m, b1, 1))
    assert c.bytes == 4096 * 576 * 2 + 128 * 576 * 2 + 128 * 512 * 2, c
    assert c.flops == 128 * 4096 * (2 * 576 + 5 + 2 * 512), c
    t, bound = roofline(c, hw)
    assert abs(t * 1e6 - 1.49) < 0.01 and bound == "mem", (t, bound)
    # batch-64 experts gate/up: 146.14 experts · 3072 · 5120 · 2 B = 4.60 GB -> 1,374 µs
    b64 = Case("b64", 64, 1, 4095, 64)
    assert abs(experts_touched(m, 64) - 146.14) < 0.01
    t, bound = roofline(experts_gate_up(m, b64, make_shard(m, b64, 1)), hw)
    assert abs(t * 1e6 - 1374) < 1 and bound == "mem", (t, bound)
    assert routed_load(m, 1, 8) == (2, 2) and routed_load(m, 1, 1) == (6, 6)
    assert pre.pairs == 4096 * 4097 // 2
    print("roofline self-check: ok")


if __name__ == "__main__":
    main()
