"""muelab.torch: the transfer plan of `muelab.transfer` applied to a PyTorch model (docs/development.md §2,
"PyTorch"; the rules themselves are docs/theory.md §2-§6).

    import muelab, muelab.torch as mt
    plan = muelab.transfer("proxy.toml", "target.toml", rule="complete-mue")
    model = MyModel(...)                       # uses mt.multipliers(plan) in its forward, or mt.MoE / mt.Transformer
    mt.init_(model, plan)                      # per-group init std (norm gains 1, biases 0)
    optimizer = torch.optim.AdamW(mt.param_groups(model, plan))   # per-group lr, weight_decay, eps, betas

What a plan fixes and where it goes:
  * init std and optimizer hyperparameters per parameter group: `init_` and `param_groups`, after each
    parameter is mapped to a muelab group (`group_of`: the default below, or your own callable);
  * forward multipliers: `multipliers(plan)` (per-group multipliers, the expert output multiplier A
    already folded into the down groups, route scales R, gate normalization, residual multiplier,
    attention logit scale). Your forward must apply them; `MoE` and `Transformer` are reference modules
    that do, and reproduce the C++ trainer step for step (tests/python/test_torch_adapter.py).

Groups: embedding, attn.qkv, attn.out, ffn.up, ffn.gate, ffn.down, router, expert.up, expert.gate,
expert.down, shared.up, shared.gate, shared.down, norm, bias, head.
"""
import dataclasses
import math
import re

import torch
import torch.nn.functional as F

from . import _muelab

__all__ = ["GROUPS", "default_group", "group_map", "param_groups", "optimizer", "init_", "Multipliers", "multipliers",
           "LayerNorm", "MoE", "Transformer", "coord_check"]

GROUPS = ("embedding", "attn.qkv", "attn.out", "ffn.up", "ffn.gate", "ffn.down", "router", "expert.up", "expert.gate",
          "expert.down", "shared.up", "shared.gate", "shared.down", "norm", "bias", "head")

# Name components of common layouts (GPT-2, LLaMA/Mixtral, DeepSeek/Qwen MoE, nn.MultiheadAttention, this module).
_ATTENTION = {"attn", "attention", "self_attn", "self_attention", "mixer"}
_QKV = {"qkv", "c_attn", "in_proj", "in_proj_weight", "q_proj", "k_proj", "v_proj", "wq", "wk", "wv", "query", "key",
        "value", "q", "k", "v", "wqkv", "query_key_value"}
_ATTN_OUT = {"out", "out_proj", "o_proj", "c_proj", "wo", "proj", "dense", "output"}
_FFN = {"mlp", "ffn", "feed_forward", "feedforward", "block_sparse_moe", "moe"}
_UP = {"up", "up_proj", "w3", "w_up", "c_fc", "fc1", "wi", "w_in", "dense_h_to_4h"}
_GATE = {"gate_proj", "w1", "w_gate", "gate"}
_DOWN = {"down", "down_proj", "w2", "w_down", "c_proj", "fc2", "wo", "w_out", "dense_4h_to_h"}
_HEAD = {"lm_head", "head", "output", "unembed", "readout", "embed_out"}
_ROUTER_PARENTS = {"block_sparse_moe", "moe", "mlp"}


def _role(parts, stem):
    """'up' / 'gate' / 'down' from the name components after the FFN-like context, or None."""
    for p in reversed(parts[stem:]):
        if p in _UP:
            return "up"
        if p in _GATE:
            return "gate"
        if p in _DOWN:
            return "down"
    return None


def default_group(name, param=None):
    """The muelab group of a parameter named `name` in a common layout, or None when not recognised.

    Norm parameters (any component containing 'norm', or ln/ln_f/ln_1...) -> norm; other `.bias` -> bias;
    token/position embeddings (wte, wpe, *emb*) -> embedding; lm_head/head/output -> head; attention
    q/k/v/qkv/in_proj -> attn.qkv and out/o_proj/c_proj -> attn.out; `router`, a `gate` directly under
    moe/mlp/block_sparse_moe (Mixtral, DeepSeek) and `*expert_gate` -> router; under `shared*` ->
    shared.{up,gate,down}; under `experts` -> expert.*; under mlp/ffn/feed_forward -> ffn.* (up: up,
    up_proj, w3, c_fc, fc1; gate: gate_proj, w1, gate; down: down, down_proj, w2, c_proj, fc2).
    A dense SwiGLU whose gate is named `mlp.gate` is read as a router: pass your own `group_of` then.
    """
    parts = name.lower().split(".")
    last = parts[-1]
    body = parts[:-1] if last in ("weight", "bias") else parts
    if not body:
        body = parts
    if any("norm" in p or re.fullmatch(r"ln(_?f|_?\d+)?", p) for p in body):
        return "norm"
    if last == "bias" or last.endswith("_bias"):
        return "bias"
    if any("emb" in p and p not in _HEAD and p != "embed_out" for p in body) or any(p in ("wte", "wpe") for p in body):
        return "embedding"
    if (len(body) == 1 and body[0] in _HEAD) or body[-1] in ("lm_head", "unembed", "readout", "embed_out"):
        return "head"
    if any(p == "router" or p.endswith("expert_gate") for p in body):
        return "router"
    if body[-1] == "gate" and len(body) >= 2 and body[-2] in _ROUTER_PARENTS:
        return "router"
    for i, p in enumerate(body):
        if p.startswith("shared"):
            role = _role(body, i + 1)
            return f"shared.{role}" if role else None
    for i, p in enumerate(body):
        if p in ("experts", "expert"):
            role = _role(body, i + 1)
            return f"expert.{role}" if role else None
    for i, p in enumerate(body):
        if p in _ATTENTION:
            rest = body[i + 1:] or [last]
            if any(q in _QKV for q in rest) or last == "in_proj_weight":
                return "attn.qkv"
            if any(q in _ATTN_OUT for q in rest):
                return "attn.out"
            return None
    for i, p in enumerate(body):
        if p in _FFN:
            role = _role(body, i + 1)
            return f"ffn.{role}" if role else None
    if body[-1] in _HEAD:
        return "head"
    return None


def _plan_groups(plan):
    if not isinstance(plan, dict) or "groups" not in plan:
        if isinstance(plan, dict) and "rules" in plan:
            raise ValueError("plan: one rule's result is needed, got rule=\"all\" (pick one of plan[\"rules\"])")
        raise ValueError("plan: expected the dict returned by muelab.transfer (with \"groups\")")
    return plan["groups"]


def group_map(model, plan=None, group_of=None):
    """{parameter name: muelab group} for every parameter of `model` (trainable or not).

    `group_of(name, param)` may return a group name or None (then the default mapping decides). Raises
    ValueError naming every unmapped parameter, or a group the plan lacks, with the accepted groups."""
    groups = _plan_groups(plan) if plan is not None else None
    out, unmapped = {}, []
    for name, param in model.named_parameters():
        group = group_of(name, param) if group_of else None
        if group is None:
            group = default_group(name, param)
        if group is None:
            unmapped.append(name)
            continue
        if group not in GROUPS:
            raise ValueError(f"group_of: parameter {name}: unknown group \"{group}\" (accepted: {', '.join(GROUPS)})")
        if groups is not None and group not in groups:
            hint = " (set model.bias = true in the target config)" if group == "bias" else ""
            raise ValueError(f"parameter {name}: group \"{group}\" is not in the plan{hint} "
                             f"(the plan has: {', '.join(sorted(groups))})")
        out[name] = group
    if unmapped:
        raise ValueError(f"group_of: no muelab group for parameter(s) {', '.join(unmapped)} "
                         f"(pass group_of=callable(name, param) returning one of: {', '.join(GROUPS)})")
    return out


def param_groups(model, plan, group_of=None):
    """Optimizer parameter groups, one per muelab group: params, lr, weight_decay, eps, betas (the plan's
    per-group values, docs/theory.md §2-§4) and `muelab_group`. Frozen parameters are left out."""
    groups = _plan_groups(plan)
    mapping = group_map(model, plan, group_of)
    by_group = {}
    for name, param in model.named_parameters():
        if param.requires_grad:
            by_group.setdefault(mapping[name], []).append(param)
    result = []
    for group in sorted(by_group):
        h = groups[group]
        result.append(dict(params=by_group[group], lr=h["lr"], weight_decay=h["weight_decay"], eps=h["eps"],
                           betas=(h["beta1"], h["beta2"]), muelab_group=group))
    return result


def optimizer(model, plan, group_of=None):
    """torch.optim.AdamW (plan optimizer "adamw", decoupled decay) or torch.optim.Adam ("adam", decay added
    to the gradient) over `param_groups`. SGD plans: build torch.optim.SGD from param_groups yourself."""
    name = plan.get("optimizer") if isinstance(plan, dict) else None
    if name == "adamw":
        return torch.optim.AdamW(param_groups(model, plan, group_of))
    if name == "adam":
        return torch.optim.Adam(param_groups(model, plan, group_of))
    raise ValueError(f"plan optimizer: \"{name}\" has no built-in torch optimizer here (accepted: adamw, adam)")


def init_(model, plan, group_of=None, generator=None):
    """Initialises every parameter from the plan: N(0, init_std of its group); norm weights 1 and norm
    biases 0; other biases 0 (docs/theory.md §2). Returns {group: number of elements initialised}."""
    groups = _plan_groups(plan)
    mapping = group_map(model, plan, group_of)
    counts = {}
    with torch.no_grad():
        for name, param in model.named_parameters():
            group = mapping[name]
            if group == "norm":
                param.fill_(0.0 if name.endswith("bias") else 1.0)
            elif group == "bias":
                param.zero_()
            else:
                param.normal_(0.0, groups[group]["init_std"], generator=generator)
            counts[group] = counts.get(group, 0) + param.numel()
    return counts


@dataclasses.dataclass(frozen=True)
class Multipliers:
    """Forward constants of a plan (docs/theory.md §2, §3, §5.1). `group[g]` multiplies the output of a
    group's matrix (the down groups already carry the expert output multiplier A, shown as
    `output_multiplier`); `residual` multiplies each residual branch; `attention_logit_scale` is 1/d_head
    or 1/sqrt(d_head); `route_scale_routed`/`route_scale_shared` multiply the routed sum and the shared
    branch; `normalize_gates` makes the active gates sum to 1."""
    group: dict
    residual: float = 1.0
    attention_logit_scale: float = 1.0
    route_scale_routed: float = 1.0
    route_scale_shared: float = 1.0
    normalize_gates: bool = True
    output_multiplier: float = 1.0

    @property
    def head(self):
        return self.group["head"]

    def __getitem__(self, group):
        return self.group[group]


def multipliers(plan):
    """The forward constants of `plan` as a Multipliers value."""
    groups = _plan_groups(plan)
    moe = plan.get("moe") or {}
    arch = plan["architecture"]
    return Multipliers(group={g: h["multiplier"] for g, h in groups.items()},
                       residual=arch["residual_multiplier"], attention_logit_scale=arch["attention_logit_scale"],
                       route_scale_routed=moe.get("route_scale_routed", 1.0),
                       route_scale_shared=moe.get("route_scale_shared", 1.0),
                       normalize_gates=moe.get("gate_normalization", "active-set") != "none",
                       output_multiplier=moe.get("output_multiplier", 1.0))


class LayerNorm(torch.nn.Module):
    """LayerNorm without bias whose gain is multiplied by the plan's norm multiplier (group `norm`)."""

    def __init__(self, d, mult, eps=1e-5, trainable=False):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(d), requires_grad=trainable)
        self.mult, self.eps = mult, eps

    def forward(self, x):
        return F.layer_norm(x, (x.shape[-1],), self.weight * self.mult, None, self.eps)


def _unit(u, up, gate, down, m, kind, activation):
    """One FFN/expert: down(act(up u)) with the group multipliers of `kind` (ffn, expert or shared)."""
    h = (u @ up) * m[f"{kind}.up"]
    if activation == "swiglu":
        h = F.silu((u @ gate) * m[f"{kind}.gate"]) * h
    else:
        h = F.gelu(h)  # exact (erf) GELU, as the trainer
    return (h @ down) * m[f"{kind}.down"]


def _stacked(count, rows, cols):
    """count x rows x cols expert weights, drawn N(0, 0.02^2) like a plain torch layer's default;
    init_(model, plan, generator) replaces them with the plan's per-group init std."""
    return torch.nn.Parameter(torch.randn(count, rows, cols) * 0.02)


class MoE(torch.nn.Module):
    """Reference MoE block (docs/theory.md §5): router (sigmoid or softmax) with top-a selection in
    `n_groups` routing groups on the scores plus a non-gradient balance bias, gates normalised over the
    active set when the plan says so, routed sum times R, shared experts times their own R, each expert
    a GELU or SwiGLU unit with the plan's expert.* multipliers (A folded into expert.down).
    Expert weights are stacked (experts.up: N x d x h, used as u @ W). Optional Switch-style balance loss
    (`aux_loss` after each forward) and bias update (`update_balance_bias`, rate `bias_rate`)."""

    def __init__(self, d_model, n_experts, n_active, d_expert, mult, n_shared=0, d_shared=None, n_groups=1,
                 router="sigmoid", activation="gelu", aux_loss_coef=0.0, bias_rate=0.0):
        super().__init__()
        if n_active < 1 or n_active > n_experts or n_experts % n_groups or n_active % n_groups:
            raise ValueError(f"MoE: need 1 <= n_active <= n_experts with n_groups dividing both "
                             f"(got n_experts={n_experts}, n_active={n_active}, n_groups={n_groups})")
        if router not in ("sigmoid", "softmax") or activation not in ("gelu", "swiglu"):
            raise ValueError(f"MoE: router must be sigmoid|softmax and activation gelu|swiglu "
                             f"(got {router!r}, {activation!r})")
        self.n_experts, self.n_active, self.n_groups = n_experts, n_active, n_groups
        self.router_kind, self.activation, self.m = router, activation, mult
        self.aux_loss_coef, self.bias_rate = aux_loss_coef, bias_rate
        self.router = torch.nn.Linear(d_model, n_experts, bias=False)
        self.experts = torch.nn.ParameterDict({"up": _stacked(n_experts, d_model, d_expert),
                                               "down": _stacked(n_experts, d_expert, d_model)})
        if activation == "swiglu":
            self.experts["gate"] = _stacked(n_experts, d_model, d_expert)
        self.n_shared = n_shared
        if n_shared:
            hs = d_shared or d_expert
            self.shared = torch.nn.ParameterDict({"up": _stacked(n_shared, d_model, hs),
                                                  "down": _stacked(n_shared, hs, d_model)})
            if activation == "swiglu":
                self.shared["gate"] = _stacked(n_shared, d_model, hs)
        self.register_buffer("balance_bias", torch.zeros(n_experts))
        self.aux_loss = torch.zeros(())
        self.last_load = None

    def _select(self, p):
        key = (p + self.balance_bias).detach()
        size, per = self.n_experts // self.n_groups, self.n_active // self.n_groups
        return torch.cat([torch.topk(key[:, i * size:(i + 1) * size], per, dim=-1).indices + i * size
                          for i in range(self.n_groups)], dim=-1)

    def forward(self, x):
        shape = x.shape
        u = x.reshape(-1, shape[-1])
        n = u.shape[0]
        scores = self.router(u) * self.m["router"]
        p = torch.sigmoid(scores) if self.router_kind == "sigmoid" else torch.softmax(scores, dim=-1)
        chosen = self._select(p)
        gates = p.gather(1, chosen)
        if self.m.normalize_gates:
            gates = gates / gates.sum(dim=-1, keepdim=True)
        gates = gates * self.m.route_scale_routed
        out = torch.zeros_like(u)
        ex = self.experts
        for e in range(self.n_experts):
            rows, slots = (chosen == e).nonzero(as_tuple=True)
            if rows.numel() == 0:
                continue
            y = _unit(u[rows], ex["up"][e], ex["gate"][e] if "gate" in ex else None, ex["down"][e], self.m, "expert",
                      self.activation)
            out = out.index_add(0, rows, y * gates[rows, slots].unsqueeze(-1))
        for s in range(self.n_shared):
            sh = self.shared
            out = out + self.m.route_scale_shared * _unit(u, sh["up"][s], sh["gate"][s] if "gate" in sh else None,
                                                          sh["down"][s], self.m, "shared", self.activation)
        counts = torch.zeros(self.n_experts, dtype=u.dtype).index_add_(0, chosen.reshape(-1),
                                                                       torch.ones(chosen.numel(), dtype=u.dtype))
        self.last_load = counts / n
        self.aux_loss = torch.zeros((), dtype=u.dtype)
        if self.aux_loss_coef > 0:
            f = counts / (n * self.n_active)
            p_hat = p / p.sum(dim=-1, keepdim=True)
            self.aux_loss = self.aux_loss_coef * self.n_experts * (f * p_hat.mean(dim=0)).sum()
        return out.reshape(shape)

    @torch.no_grad()
    def update_balance_bias(self):
        """bias -= bias_rate * (load - a/N) after an optimizer step (the trainer's non-gradient balancing)."""
        if self.bias_rate > 0 and self.last_load is not None:
            self.balance_bias -= self.bias_rate * (self.last_load.to(self.balance_bias.dtype) -
                                                   self.n_active / self.n_experts)


class _Attention(torch.nn.Module):
    def __init__(self, d, d_head, mult):
        super().__init__()
        self.d, self.d_head, self.m = d, d_head, mult
        self.qkv = torch.nn.Linear(d, 3 * d, bias=False)
        self.out = torch.nn.Linear(d, d, bias=False)

    def forward(self, x):
        b, t, d = x.shape
        heads = d // self.d_head
        q, k, v = (self.qkv(x) * self.m["attn.qkv"]).split(d, dim=-1)
        q, k, v = (z.reshape(b, t, heads, self.d_head).transpose(1, 2) for z in (q, k, v))
        scores = (q @ k.transpose(-1, -2)) * self.m.attention_logit_scale
        mask = torch.triu(torch.ones(t, t, dtype=torch.bool, device=x.device), diagonal=1)
        o = torch.softmax(scores.masked_fill(mask, float("-inf")), dim=-1) @ v
        return self.out(o.transpose(1, 2).reshape(b, t, d)) * self.m["attn.out"]


class _DenseFFN(torch.nn.Module):
    def __init__(self, d, h, mult, activation):
        super().__init__()
        self.m, self.activation = mult, activation
        self.up = torch.nn.Linear(d, h, bias=False)
        self.gate = torch.nn.Linear(d, h, bias=False) if activation == "swiglu" else None
        self.down = torch.nn.Linear(h, d, bias=False)

    def forward(self, u):
        gate = self.gate.weight.t() if self.gate is not None else None
        return _unit(u, self.up.weight.t(), gate, self.down.weight.t(), self.m, "ffn", self.activation)


class _Block(torch.nn.Module):
    def __init__(self, model, mult, norm_trainable, moe_options):
        super().__init__()
        d = model["d_model"]
        self.r = mult.residual
        self.norm1 = LayerNorm(d, mult["norm"], trainable=norm_trainable)
        self.attn = _Attention(d, model["d_head"], mult)
        self.norm2 = LayerNorm(d, mult["norm"], trainable=norm_trainable)
        activation = model.get("activation", "gelu")
        if model.get("ffn", "dense") == "moe":
            if model.get("n_shared", 0) and not model.get("d_shared"):
                raise ValueError("model.d_shared: required when n_shared > 0")
            self.moe = MoE(d, model["n_experts"], model["n_active"], model["d_expert"], mult,
                           n_shared=model.get("n_shared", 0), d_shared=model.get("d_shared"),
                           n_groups=model.get("n_groups", 1), router=model.get("router", "sigmoid"),
                           activation=activation, **moe_options)
        else:
            self.ffn = _DenseFFN(d, model["d_ffn"], mult, activation)

    def forward(self, x):
        x = x + self.r * self.attn(self.norm1(x))
        branch = self.moe if hasattr(self, "moe") else self.ffn
        return x + self.r * branch(self.norm2(x))


class _Head(torch.nn.Linear):
    """The readout with its multiplier inside, so that a hook on `head` sees the logits."""

    def __init__(self, d, vocab_size, mult):
        super().__init__(d, vocab_size, bias=False)
        self.mult = mult

    def forward(self, x):
        return super().forward(x) * self.mult


class Transformer(torch.nn.Module):
    """Reference decoder, the same model as the C++ trainer (models/cpu): token + position embeddings
    times the embedding multiplier, pre-norm blocks (causal attention, dense FFN or MoE) with residual
    multiplier, final norm, head times the head multiplier. `model` is the target config's [model]
    table as a dict; forward(tokens, targets) -> mean cross-entropy + the MoE balance losses."""

    def __init__(self, model, vocab_size, seq_len, plan, norm_gains_trainable=False, aux_loss_coef=0.0,
                 bias_rate=0.0):
        super().__init__()
        if model.get("bias", False):
            raise ValueError("model.bias: the reference Transformer has no biases (accepted: false)")
        self.m = multipliers(plan)
        d = model["d_model"]
        self.token_embedding = torch.nn.Embedding(vocab_size, d)
        self.position_embedding = torch.nn.Embedding(seq_len, d)
        moe_options = dict(aux_loss_coef=aux_loss_coef, bias_rate=bias_rate)
        self.blocks = torch.nn.ModuleList(_Block(model, self.m, norm_gains_trainable, moe_options)
                                          for _ in range(model["n_layers"]))
        self.final_norm = LayerNorm(d, self.m["norm"], trainable=norm_gains_trainable)
        self.head = _Head(d, vocab_size, self.m.head)

    def logits(self, tokens):
        t = tokens.shape[-1]
        positions = torch.arange(t, device=tokens.device)
        x = (self.token_embedding(tokens) + self.position_embedding(positions)) * self.m["embedding"]
        for block in self.blocks:
            x = block(x)
        return self.head(self.final_norm(x))

    def forward(self, tokens, targets):
        logits = self.logits(tokens)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
        for block in self.blocks:
            if hasattr(block, "moe"):
                loss = loss + block.moe.aux_loss
        return loss

    def update_balance_bias(self):
        for block in self.blocks:
            if hasattr(block, "moe"):
                block.moe.update_balance_bias()


def _rms(x):
    return float(x.detach().double().pow(2).mean().sqrt())


def _watch_modules(model, watch):
    modules = dict(model.named_modules())
    if not watch:
        raise ValueError("watch: name at least one module whose output carries its multipliers (e.g. blocks.1)")
    missing = [n for n in watch if n not in modules]
    if missing:
        raise ValueError(f"watch: no module named {', '.join(missing)} in the model")
    return list(watch)


def _record(model, names, batch, loss_fn):
    """Output of each watched module on `batch` (no gradient)."""
    outputs, handles = {}, []
    modules = dict(model.named_modules())
    for name in names:
        def hook(_module, _inputs, output, name=name):
            outputs[name] = (output[0] if isinstance(output, tuple) else output).detach().clone()
        handles.append(modules[name].register_forward_hook(hook))
    try:
        with torch.no_grad():
            loss_fn(model, batch)
    finally:
        for h in handles:
            h.remove()
    return outputs


def coord_check(model_factory, widths, batches, watch, steps=3, seeds=range(8), rule="model", control=False,
                tolerance=0.1, loss_fn=None, bootstrap_seed=7, resamples=1000):
    """Coordinate check across width (docs/claims.md `coord-check`), judged by the same C++ analysis as the
    `coord-check` experiment.

    For each width and seed (default 8: the bootstrap CI is widened for few seeds, docs/claims.md "Seeds
    and intervals", and with 5 a near-zero slope is often inconclusive against a 0.1 band),
    `model_factory(width, seed)` returns (model, optimizer); the model takes
    `steps` optimizer steps on batches[0], batches[1], ... (loss_fn(model, batch), default model(*batch)).
    For each watched module (names from model.named_modules(); watch outputs that include the forward
    multipliers, e.g. a block's output, not a bare nn.Linear whose multiplier is applied outside it), on
    the probe batch batches[0],
    it measures the output RMS after training ("<module> rms") and the RMS of its change from
    initialisation ("<module> delta rms"), fits log-log slopes against width with a bootstrap CI over
    seeds and judges each against 0 +- tolerance: a claim row (control=False) holds when its CI is inside,
    a control row (control=True) is as expected when it fails. Returns {"rule", "kind", "verdict",
    "rows"}: the overall verdict is fails when any row fails, holds when every row holds, else
    inconclusive; each row has quantity, slope, ci, verdict, reason.
    """
    if len(widths) < 2 or len(set(widths)) != len(widths) or min(widths) <= 0:
        raise ValueError(f"widths: need at least two distinct positive widths (got {list(widths)})")
    if steps < 1 or len(batches) < steps:
        raise ValueError(f"steps: need 1 <= steps <= len(batches) (got steps={steps}, {len(batches)} batches)")
    loss_fn = loss_fn or (lambda model, batch: model(*batch))
    cols = {k: [] for k in ("rules", "quantities", "axes", "steps", "axis_values", "seeds", "values")}

    def add(quantity, width, seed, value):
        for k, v in zip(cols, (rule, quantity, "width", steps, float(width), str(seed), value)):
            cols[k].append(v)

    for width in widths:
        for seed in seeds:
            model, opt = model_factory(width, seed)
            names = _watch_modules(model, watch)
            before = _record(model, names, batches[0], loss_fn)
            for step in range(steps):
                opt.zero_grad()
                loss = loss_fn(model, batches[step])
                if not torch.isfinite(loss):
                    raise ValueError(f"coord_check: loss is {float(loss)} at width {width}, seed {seed}, step {step}")
                loss.backward()
                opt.step()
                if hasattr(model, "update_balance_bias"):
                    model.update_balance_bias()
            after = _record(model, names, batches[0], loss_fn)
            for name in names:
                add(f"{name} rms", width, seed, _rms(after[name]))
                add(f"{name} delta rms", width, seed, max(_rms(after[name] - before[name]), 1e-300))
    rows = _muelab.coord_slopes(cols["rules"], cols["quantities"], cols["axes"], cols["steps"], cols["axis_values"],
                                cols["seeds"], cols["values"], [rule] if control else [], tolerance, bootstrap_seed,
                                resamples)
    judged = [r["verdict"] for r in rows if r["verdict"] != "not judged"]
    overall = ("fails" if "fails" in judged else
               "holds" if judged and all(v == "holds" for v in judged) else "inconclusive")
    return {"rule": rule, "kind": "control" if control else "claim", "verdict": overall, "rows": rows}

