#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The PyTorch twin of examples/char_lm: the same character-level language models, data, batches,
optimisers and evaluation as the C++ example, under the same names, so that the two runs can be
compared number for number. The contract both sides implement is docs/char_lm.md (text,
vocabulary, split, splitmix64 batches for gpt, contiguous detached streams for lstm/gru, models
under PyTorch's names, AdamW/Adam, clipping, evaluation, --dump and --save files).

Usage (from the repository root; Debian's torch imports only in /usr/bin/python3):

    /usr/bin/python3 bench/char_lm.py init --model gpt|lstm|gru [--seed S] [--text FILE] --out W.safetensors
        The model built with torch.manual_seed(S) and PyTorch's default initialisation; its
        state_dict as safetensors (float32, PyTorch's names).

    /usr/bin/python3 bench/char_lm.py train [--model gpt] [--text FILE] [--steps 1000] [--batch-size 32]
            [--lr X] [--seed 0] [--threads 0] [--eval-every 100] [--eval-batches 10] [--init W.safetensors]
            [--dump D.safetensors] [--save CKPT.safetensors] [--sample 300] [--temperature 1] [--top-k 0]
            [--prompt TEXT]
        Trains as the C++ example does and prints the same lines:
        `step S train_loss L val_loss V tok_per_s R`, then `final val_loss V` (whole validation text),
        then the sample. --dump writes the first step's "logits" [B, T, V] (before the step), "loss",
        "grad.<name>" (after clipping for lstm/gru) and "losses" [steps]. --save writes the state_dict
        with the spec's metadata (model, step, vocab, n_layer, n_head, n_embd, context).

    /usr/bin/python3 bench/char_lm.py compare --model gpt|lstm --tg build/bin/char_lm [--steps 20]
            [--batch-size 32] [--seed 0] [--keep DIR]
        The correctness check: one set of initial weights (`init`), 20 steps in tapegrad
        (`char_lm --init W --steps 20 --threads 1 --eval-every 20 --eval-batches 1 --sample 0 --dump A
        --save CKPT`) and in PyTorch (`train --init W ... --dump B`), then compares (b = PyTorch):
          logits, loss     max|a - b| / max|b| (the max norm over all entries) <= 1e-4
          grad.<name>      the same, per parameter                               <= 1e-3
          losses[i]        |a_i - b_i| / |b_i|, each of the steps                 <= 1e-3
        and the checkpoint tapegrad wrote after those steps: it loads into the PyTorch model with
        strict=True, its metadata matches (model, step, vocab, sizes), and the logits of the loaded
        model on the first batch match tapegrad's logits of the same weights (a second tapegrad run,
        `char_lm --init CKPT --steps 1 --dump A2`, dumps them) within 1e-4; the whole-validation loss
        of the loaded model is shown next to tapegrad's `final val_loss`. Prints a table; exit status
        1 when a check fails.

    /usr/bin/python3 bench/char_lm.py checkpoint --ckpt CKPT.safetensors [--dump A.safetensors]
            [--batch-size 32] [--seed 0] [--text FILE] [--val]
        Loads a checkpoint written by `char_lm --save` into the PyTorch model (strict=True), prints its
        metadata and, with --dump, compares the loaded model's logits on the first step's batch (of
        --seed, --batch-size) with the dump's "logits"; --val also prints the whole-validation loss.

Only the standard library, numpy and torch. Debian 12 has no safetensors module: the files are
read and written here with json and numpy (8-byte little-endian header length, JSON header,
little-endian data).
"""
import argparse
import json
import math
import os
import re
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from pytorch_cases import set_blas_threads

FORTUNES = Path("/usr/share/games/fortunes")
CONTEXT = 64  # T
GPT_SIZES = {"n_layer": 2, "n_head": 4, "n_embd": 128, "context": CONTEXT}
RNN_EMBED, RNN_HIDDEN, RNN_LAYERS = 64, 256, 2
DEFAULT_LR = {"gpt": 3e-3, "lstm": 2e-3, "gru": 2e-3}
CLIP_NORM = 1.0  # lstm/gru only
MASK64 = (1 << 64) - 1
# The tolerances of `compare`.
TOL_LOGITS, TOL_GRAD, TOL_LOSSES = 1e-4, 1e-3, 1e-3


# ---- safetensors, with json and numpy ----
ST_DTYPES = {"F32": "<f4", "F64": "<f8", "F16": "<f2", "I64": "<i8", "I32": "<i4", "U8": "u1"}
NP_TO_ST = {np.dtype("<f4"): "F32", np.dtype("<f8"): "F64", np.dtype("<i8"): "I64", np.dtype("<i4"): "I32"}


def write_safetensors(path, tensors, metadata=None):
    """tensors: name -> numpy array or torch tensor, written in the given order."""
    header, chunks, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, value in tensors.items():
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().numpy()
        array = np.asarray(value)
        array = array.astype(array.dtype.newbyteorder("<"), copy=False)
        data = np.ascontiguousarray(array).tobytes()
        header[name] = {"dtype": NP_TO_ST[array.dtype], "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)  # the safetensors library pads the header to a multiple of 8
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for data in chunks:
            f.write(data)


def read_safetensors(path):
    """(name -> numpy array, metadata dict)."""
    blob = Path(path).read_bytes()
    (header_len,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + header_len].decode("utf-8"))
    metadata = header.pop("__metadata__", {}) or {}
    data = blob[8 + header_len:]
    tensors = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        tensors[name] = np.frombuffer(data[begin:end], dtype=ST_DTYPES[info["dtype"]]).reshape(info["shape"]).copy()
    return tensors, metadata


# ---- text, vocabulary, split ----
def read_text(path=None):
    """The spec's text: --text FILE, or the regular files of /usr/share/games/fortunes (no symlinks, no
    *.dat) sorted by name in byte order and concatenated; UTF-8, else Latin-1."""
    if path:
        blob = Path(path).read_bytes()
    else:
        directory = os.fsencode(FORTUNES)
        names = sorted(n for n in os.listdir(directory) if not n.endswith(b".dat"))
        files = [os.path.join(directory, n) for n in names]
        blob = b"".join(Path(os.fsdecode(f)).read_bytes() for f in files
                        if os.path.isfile(f) and not os.path.islink(f))
    try:
        return blob.decode("utf-8")
    except UnicodeDecodeError:
        return blob.decode("latin-1")


class Corpus:
    def __init__(self, path=None):
        text = read_text(path)
        codes = np.frombuffer(text.encode("utf-32-le"), dtype="<u4")
        points, ids = np.unique(codes, return_inverse=True)  # sorted distinct code points
        self.vocab = "".join(chr(c) for c in points)
        self.ids = ids.astype(np.int64)
        n_train = len(self.ids) * 9 // 10
        self.train, self.val = self.ids[:n_train], self.ids[n_train:]

    @property
    def V(self):
        return len(self.vocab)

    def encode(self, text):
        index = {c: i for i, c in enumerate(self.vocab)}
        return [index[c] for c in text if c in index]


# ---- batches ----
class SplitMix64:
    def __init__(self, seed):
        self.state = seed & MASK64

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)


class GptBatches:
    """Step s uses draws s*B .. s*B+B-1 of one splitmix64 stream: offset = next() % (n_train - T)."""
    def __init__(self, train, B, seed, T=CONTEXT):
        self.train, self.B, self.T, self.rng = train, B, T, SplitMix64(seed)

    def next(self):
        T, n = self.T, len(self.train)
        offsets = [self.rng.next() % (n - T) for _ in range(self.B)]
        x = np.stack([self.train[o:o + T] for o in offsets])
        y = np.stack([self.train[o + 1:o + T + 1] for o in offsets])
        return torch.from_numpy(x), torch.from_numpy(y), False


class StreamBatches:
    """B contiguous streams of L = len // B tokens; step s reads chunk k = s % K (K = (L - 1) // T);
    the third value says the hidden state starts from zeros (k == 0)."""
    def __init__(self, ids, B, T=CONTEXT):
        self.T, L = T, len(ids) // B
        self.streams = ids[:B * L].reshape(B, L)
        self.K = (L - 1) // T
        self.step = 0

    def chunk(self, k):
        T = self.T
        x = np.ascontiguousarray(self.streams[:, k * T:k * T + T])
        y = np.ascontiguousarray(self.streams[:, k * T + 1:k * T + T + 1])
        return torch.from_numpy(x), torch.from_numpy(y)

    def next(self):
        k = self.step % self.K
        self.step += 1
        return (*self.chunk(k), k == 0)


def batches_for(kind, corpus, B, seed):
    return GptBatches(corpus.train, B, seed) if kind == "gpt" else StreamBatches(corpus.train, B)


# ---- models (the spec's names) ----
class Block(nn.Module):
    def __init__(self, n_embd, n_head):
        super().__init__()
        self.ln1 = nn.LayerNorm(n_embd)
        self.attn = nn.MultiheadAttention(n_embd, n_head, batch_first=True)
        self.ln2 = nn.LayerNorm(n_embd)
        self.mlp = nn.Sequential(nn.Linear(n_embd, 4 * n_embd), nn.GELU(), nn.Linear(4 * n_embd, n_embd))

    def forward(self, x, mask):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, attn_mask=mask, need_weights=False)[0]
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    def __init__(self, V, n_layer=2, n_head=4, n_embd=128, context=CONTEXT):
        super().__init__()
        self.tok_emb = nn.Embedding(V, n_embd)
        self.pos_emb = nn.Embedding(context, n_embd)
        self.blocks = nn.ModuleList(Block(n_embd, n_head) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(n_embd)
        self.head = nn.Linear(n_embd, V)
        # True = may not attend (a later position); not part of the state_dict
        self.register_buffer("mask", torch.ones(context, context, dtype=torch.bool).triu(1), persistent=False)

    def forward(self, ids, state=None):
        t = ids.shape[1]
        x = self.tok_emb(ids) + self.pos_emb(torch.arange(t))
        mask = self.mask[:t, :t]
        for block in self.blocks:
            x = block(x, mask)
        return self.head(self.ln_f(x)), None


class RNNLM(nn.Module):
    def __init__(self, V, kind="lstm"):
        super().__init__()
        self.emb = nn.Embedding(V, RNN_EMBED)
        cell = nn.LSTM if kind == "lstm" else nn.GRU
        self.rnn = cell(RNN_EMBED, RNN_HIDDEN, num_layers=RNN_LAYERS, batch_first=True)
        self.head = nn.Linear(RNN_HIDDEN, V)

    def forward(self, ids, state=None):
        out, state = self.rnn(self.emb(ids), state)
        return self.head(out), state


def build_model(kind, V, seed=0, sizes=None):
    torch.manual_seed(seed)
    if kind == "gpt":
        return GPT(V, **(sizes or GPT_SIZES))
    if kind in ("lstm", "gru"):
        return RNNLM(V, kind)
    raise ValueError(f"unknown model '{kind}' (gpt, lstm or gru)")


def detach(state):
    if state is None:
        return None
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()


def load_weights(model, path):
    """A safetensors file under PyTorch's names into the model, strictly; returns its metadata."""
    tensors, metadata = read_safetensors(path)
    model.load_state_dict({k: torch.from_numpy(np.asarray(v, dtype=np.float32)) for k, v in tensors.items()},
                          strict=True)
    return metadata


def checkpoint_metadata(kind, step, corpus):
    meta = {"model": kind, "step": step, "vocab": corpus.vocab}
    if kind == "gpt":
        meta.update(GPT_SIZES)
    return meta


# ---- loss and evaluation ----
def lm_loss(logits, y, reduction="mean"):
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction=reduction)


@torch.no_grad()
def evaluate(kind, model, val, B, max_batches=0):
    """Mean cross-entropy over the predicted tokens of the validation text (spec: Evaluation);
    max_batches > 0 stops after that many batches (gpt) or chunks (lstm/gru)."""
    T, total, count = CONTEXT, 0.0, 0
    if kind == "gpt":
        windows = (len(val) - 1) // T
        starts = list(range(0, windows, B))
        for i, first in enumerate(starts):
            if max_batches and i >= max_batches:
                break
            js = range(first, min(first + B, windows))
            x = torch.from_numpy(np.stack([val[j * T:j * T + T] for j in js]))
            y = torch.from_numpy(np.stack([val[j * T + 1:j * T + T + 1] for j in js]))
            logits, _ = model(x)
            total += float(lm_loss(logits, y, "sum"))
            count += y.numel()
    else:
        streams = StreamBatches(val, B)
        chunks = (len(val) // B - 1) // T
        state = None
        for k in range(chunks):
            if max_batches and k >= max_batches:
                break
            x, y = streams.chunk(k)
            logits, state = model(x, state)
            total += float(lm_loss(logits, y, "sum"))
            count += y.numel()
    return total / max(count, 1)


@torch.no_grad()
def sample(kind, model, corpus, n, temperature, top_k, prompt, seed):
    if n <= 0:
        return ""
    generator = torch.Generator().manual_seed(seed)
    ids = corpus.encode(prompt) or [0]
    out, state = [], None
    context = torch.tensor([ids])
    for _ in range(n):
        if kind == "gpt":
            logits, _ = model(context[:, -CONTEXT:])
        else:
            logits, state = model(context if state is None else context[:, -1:], state)
        logits = logits[0, -1] / max(temperature, 1e-8)
        if top_k > 0:
            kth = torch.topk(logits, min(top_k, logits.numel())).values[-1]
            logits = logits.masked_fill(logits < kth, float("-inf"))
        nxt = int(torch.multinomial(torch.softmax(logits, -1), 1, generator=generator))
        out.append(corpus.vocab[nxt])
        context = torch.cat([context, torch.tensor([[nxt]])], 1)
    return "".join(out)


# ---- training ----
def set_threads(n):
    n = n if n > 0 else (os.cpu_count() or 1)
    torch.set_num_threads(n)
    set_blas_threads(n)  # OpenBLAS's own pool: torch.set_num_threads does not reach it
    return n


def train(args, out=sys.stdout):
    """Trains as the spec says; returns {"final_val_loss", "losses", "tok_per_s"}."""
    set_threads(args.threads)
    corpus = Corpus(args.text)
    kind, B, T = args.model, args.batch_size, CONTEXT
    model = build_model(kind, corpus.V, args.seed)
    if args.init:
        load_weights(model, args.init)
    params = list(model.parameters())
    lr = args.lr if args.lr is not None else DEFAULT_LR[kind]
    if kind == "gpt":
        optimizer = torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
    else:
        optimizer = torch.optim.Adam(params, lr=lr)
    batches = batches_for(kind, corpus, B, args.seed)
    state, losses, dump, rates = None, [], {}, []
    since_loss, since_steps, since_time = 0.0, 0, 0.0
    for s in range(args.steps):
        start = time.perf_counter()
        x, y, reset = batches.next()
        if reset:
            state = None
        logits, state = model(x, detach(state))
        loss = lm_loss(logits, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if kind != "gpt":
            nn.utils.clip_grad_norm_(params, CLIP_NORM)
        if s == 0 and args.dump:
            dump["logits"] = logits.detach().clone()
            dump["loss"] = loss.detach().clone()
            for name, p in model.named_parameters():
                dump[f"grad.{name}"] = p.grad.detach().clone()
        optimizer.step()
        value = loss.item()
        since_time += time.perf_counter() - start
        losses.append(value)
        since_loss += value
        since_steps += 1
        if args.eval_every > 0 and (s + 1) % args.eval_every == 0:
            rate = since_steps * B * T / since_time
            rates.append(rate)
            val = evaluate(kind, model, corpus.val, B, args.eval_batches)
            print(f"step {s + 1} train_loss {since_loss / since_steps:.4f} val_loss {val:.4f} tok_per_s {rate:.0f}",
                  file=out, flush=True)
            since_loss, since_steps, since_time = 0.0, 0, 0.0
    final = evaluate(kind, model, corpus.val, B, 0)
    print(f"final val_loss {final:.4f}", file=out, flush=True)
    if args.dump:
        dump["losses"] = torch.tensor(losses, dtype=torch.float32)
        write_safetensors(args.dump, dump, {"model": kind, "steps": str(args.steps), "source": "bench/char_lm.py"})
    if args.save:
        write_safetensors(args.save, model.state_dict(), checkpoint_metadata(kind, args.steps, corpus))
    text = sample(kind, model, corpus, args.sample, args.temperature, args.top_k, args.prompt, args.seed)
    if text:
        print(text, file=out, flush=True)
    return {"final_val_loss": final, "losses": losses, "tok_per_s": rates}


def cmd_init(args):
    corpus = Corpus(args.text)
    model = build_model(args.model, corpus.V, args.seed)
    write_safetensors(args.out, model.state_dict(), {"format": "pt", "model": args.model, "seed": args.seed})
    print(f"init: {args.model}, V = {corpus.V}, {sum(p.numel() for p in model.parameters()):,} parameters, "
          f"seed {args.seed} -> {args.out}")


# ---- comparing with tapegrad ----
def rel_max(a, b):
    """max|a - b| / max|b|, over all entries (the max norm of the difference relative to b's)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        return math.inf
    scale = np.abs(b).max() if b.size else 0.0
    diff = np.abs(a - b).max() if b.size else 0.0
    return diff / scale if scale > 0 else (0.0 if diff == 0 else math.inf)


def run_tapegrad(command, label):
    print(f"char_lm: {' '.join(map(str, command))}", file=sys.stderr, flush=True)
    result = subprocess.run([str(c) for c in command], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"char_lm: {label} exited with status {result.returncode}:\n{result.stdout[-2000:]}"
                 f"\n{result.stderr[-3000:]}")
    return result.stdout


def first_batch_logits(kind, model, corpus, B, seed):
    x, _, _ = batches_for(kind, corpus, B, seed).next()
    with torch.no_grad():
        return model(x)[0].numpy()


def check_checkpoint_metadata(metadata, kind, step, corpus):
    """The problems with a checkpoint's metadata, as strings (empty: none)."""
    problems = []
    expected = checkpoint_metadata(kind, step, corpus)
    for key, value in expected.items():
        got = metadata.get(key)
        if got is None:
            problems.append(f"metadata has no '{key}'")
        elif str(got) != str(value):
            shown = (lambda v: repr(v[:40]) + ("..." if len(v) > 40 else "")) if key == "vocab" else repr
            problems.append(f"metadata {key} = {shown(str(got))}, expected {shown(str(value))}")
    return problems


def cmd_compare(args):
    kind, steps, B, seed = args.model, args.steps, args.batch_size, args.seed
    binary = Path(args.tg)
    if not binary.is_file():
        sys.exit(f"char_lm: {binary} not found (build the char_lm example, or pass --tg)")
    keep = Path(args.keep) if args.keep else None
    tmp = tempfile.TemporaryDirectory(prefix="char_lm_compare_")
    work = keep or Path(tmp.name)
    work.mkdir(parents=True, exist_ok=True)
    init, dump_tg, dump_pt = work / "init.safetensors", work / "tapegrad.safetensors", work / "pytorch.safetensors"
    ckpt, dump_ckpt = work / "checkpoint.safetensors", work / "tapegrad_from_checkpoint.safetensors"
    text_flag = ["--text", args.text] if args.text else []

    corpus = Corpus(args.text)
    model = build_model(kind, corpus.V, seed)
    write_safetensors(init, model.state_dict(), {"format": "pt", "model": kind, "seed": seed})

    common = ["--model", kind, "--steps", steps, "--batch-size", B, "--seed", seed, "--threads", 1,
              "--eval-every", steps, "--eval-batches", 1, *text_flag]
    tg_out = run_tapegrad([binary, *common, "--init", init, "--sample", 0, "--dump", dump_tg, "--save", ckpt],
                          "tapegrad")
    print("== tapegrad ==\n" + tg_out.rstrip())
    print("== PyTorch ==", flush=True)
    pt_args = train_parser().parse_args(["train", *map(str, common), "--init", str(init), "--sample", "0",
                                         "--dump", str(dump_pt)])
    pt_result = train(pt_args)
    tg, _ = read_safetensors(dump_tg)
    pt, _ = read_safetensors(dump_pt)

    rows = []  # (what, measure, value, tolerance)

    def check(what, value, tolerance, measure="max|a-b|/max|b|"):
        rows.append((what, measure, value, tolerance))

    for name in ("logits", "loss"):
        check(name, rel_max(tg[name], pt[name]) if name in tg else math.inf, TOL_LOGITS)
    grads = [n for n in pt if n.startswith("grad.")]
    missing = sorted(set(grads) - set(tg))
    extra = sorted(n for n in tg if n.startswith("grad.") and n not in pt)
    for name in grads:
        check(name, rel_max(tg[name], pt[name]) if name in tg else math.inf, TOL_GRAD)
    a, b = tg.get("losses", np.zeros(0)), pt["losses"]
    if a.shape == b.shape:
        each = np.abs(a.astype(np.float64) - b) / np.abs(b.astype(np.float64))
        worst = int(each.argmax())
        check(f"losses ({len(b)} steps; worst: step {worst})", float(each.max()), TOL_LOSSES, "max_i |a_i-b_i|/|b_i|")
    else:
        check(f"losses (shape {list(a.shape)} vs {list(b.shape)})", math.inf, TOL_LOSSES, "max_i |a_i-b_i|/|b_i|")

    # The checkpoint: PyTorch's names, loadable strictly, and the same function as in tapegrad.
    problems = []
    try:
        ckpt_tensors, ckpt_meta = read_safetensors(ckpt)
        problems += check_checkpoint_metadata(ckpt_meta, kind, steps, corpus)
        loaded = build_model(kind, corpus.V, seed)
        load_weights(loaded, ckpt)
    except (OSError, RuntimeError, KeyError, ValueError) as e:
        problems.append(f"checkpoint {ckpt} does not load strictly: {str(e).splitlines()[0][:300]}")
        loaded = None
    if loaded is not None:
        run_tapegrad([binary, "--model", kind, "--steps", 1, "--batch-size", B, "--seed", seed, "--threads", 1,
                      "--eval-every", 1, "--eval-batches", 1, *text_flag, "--init", ckpt, "--sample", 0,
                      "--dump", dump_ckpt], "tapegrad --init CHECKPOINT")
        tg_ckpt, _ = read_safetensors(dump_ckpt)
        ours = first_batch_logits(kind, loaded, corpus, B, seed)
        check(f"checkpoint (step {steps}) logits", rel_max(tg_ckpt["logits"], ours), TOL_LOGITS)
        # tapegrad's `final val_loss` was computed from the weights it saved: the loaded model's must be
        # the same, to the digits printed.
        printed = re.search(r"^final val_loss ([-+0-9.eE]+)", tg_out, re.M)
        val = evaluate(kind, loaded, corpus.val, B, 0)
        if printed:
            tg_final = float(printed.group(1))
            digits = len(printed.group(1).split(".")[1]) if "." in printed.group(1) else 0
            tolerance = max(TOL_LOGITS, 0.5 * 10.0 ** -digits / abs(val))  # the printed rounding, at least
            check("checkpoint whole-val loss", abs(tg_final - val) / abs(val), tolerance, "|a-b|/|b|")
        else:
            tg_final = None
            problems.append("no `final val_loss` line in tapegrad's output")
    print()
    print(f"compare {kind}: {steps} steps, batch {B}, seed {seed}; a = tapegrad ({binary}), b = PyTorch "
          f"{torch.__version__}; files in {work if keep else '(a temporary directory)'}")
    width = max(len(r[0]) for r in rows)
    print(f"{'tensor'.ljust(width)}  {'measure':>22}  {'value':>10}  {'tolerance':>9}  result")
    failed = 0
    for what, measure, value, tolerance in rows:
        ok = value <= tolerance
        failed += not ok
        print(f"{what.ljust(width)}  {measure:>22}  {value:10.3g}  {tolerance:9.0e}  {'ok' if ok else 'FAIL'}")
    for name in missing:
        print(f"FAIL: tapegrad's dump has no {name}")
    for name in extra:
        print(f"FAIL: tapegrad's dump has {name}, which is not a PyTorch parameter")
    failed += len(missing) + len(extra)
    if loaded is not None:
        print(f"checkpoint: loads into the PyTorch model with strict=True; whole-validation loss of the loaded model "
              f"{val:.6f}, tapegrad's final val_loss {tg_final} (PyTorch's own run, from the same initial weights: "
              f"{pt_result['final_val_loss']:.4f})")
    for p in problems:
        print(f"FAIL: checkpoint: {p}")
    failed += len(problems)
    print(f"compare {kind}: {'ok' if not failed else f'{failed} check(s) failed'}")
    tmp.cleanup()
    return 1 if failed else 0


def cmd_checkpoint(args):
    corpus = Corpus(args.text)
    _, metadata = read_safetensors(args.ckpt)
    kind = metadata.get("model")
    if kind not in ("gpt", "lstm", "gru"):
        sys.exit(f"char_lm: {args.ckpt}: metadata model = {kind!r}, expected gpt, lstm or gru")
    if metadata.get("vocab") != corpus.vocab:
        sys.exit(f"char_lm: {args.ckpt}: its vocabulary differs from the text's ({len(metadata.get('vocab', ''))} "
                 f"vs {corpus.V} characters); pass the --text it was trained on")
    sizes = {k: int(metadata[k]) for k in GPT_SIZES} if kind == "gpt" and all(k in metadata for k in GPT_SIZES) \
        else None
    model = build_model(kind, corpus.V, 0, sizes)
    load_weights(model, args.ckpt)
    shown = {k: (v if k != "vocab" else f"{len(v)} characters") for k, v in sorted(metadata.items())}
    print(f"checkpoint {args.ckpt}: {shown}; loaded into the PyTorch model with strict=True")
    status = 0
    if args.dump:
        dump, _ = read_safetensors(args.dump)
        ours = first_batch_logits(kind, model, corpus, args.batch_size, args.seed)
        r = rel_max(dump["logits"], ours)
        status = int(not r <= TOL_LOGITS)
        print(f"logits on the first batch (seed {args.seed}, batch {args.batch_size}) against {args.dump}: "
              f"max|a-b|/max|b| = {r:.3g} ({'ok' if not status else 'FAIL'}, tolerance {TOL_LOGITS:g})")
    if args.val:
        print(f"whole-validation loss {evaluate(kind, model, corpus.val, args.batch_size, 0):.4f}")
    return status


# ---- command line ----
def train_parser():
    parser = argparse.ArgumentParser(prog="char_lm.py", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.split("\n")[1:]))
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("init", help="write a model's PyTorch initial weights as safetensors")
    p.add_argument("--model", choices=("gpt", "lstm", "gru"), default="gpt")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--text")
    p.add_argument("--out", required=True)

    p = sub.add_parser("train", help="train as the C++ example does")
    p.add_argument("--model", choices=("gpt", "lstm", "gru"), default="gpt")
    p.add_argument("--text")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="0 = one per core")
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--eval-batches", type=int, default=10, help="0 = the whole validation text")
    p.add_argument("--init", help="initial weights (safetensors, PyTorch's names, strict)")
    p.add_argument("--dump", help="write the first step's logits, loss, gradients and every loss")
    p.add_argument("--save", help="write the final state_dict with the spec's metadata")
    p.add_argument("--sample", type=int, default=300)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--top-k", type=int, default=0)
    p.add_argument("--prompt", default="\n")

    p = sub.add_parser("compare", help="tapegrad's char_lm against this twin, from the same weights")
    p.add_argument("--model", choices=("gpt", "lstm", "gru"), default="gpt")
    p.add_argument("--tg", required=True, help="the C++ char_lm binary")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--text")
    p.add_argument("--keep", metavar="DIR", help="keep the weights, dumps and checkpoint in DIR")

    p = sub.add_parser("checkpoint", help="load a tapegrad checkpoint (char_lm --save) strictly")
    p.add_argument("--ckpt", required=True)
    p.add_argument("--dump", help="a char_lm --dump whose logits were computed from these weights")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--text")
    p.add_argument("--val", action="store_true", help="also the whole-validation loss")
    return parser


def main():
    args = train_parser().parse_args()
    if args.command == "init":
        return cmd_init(args)
    if args.command == "train":
        train(args)
        return 0
    if args.command == "compare":
        return cmd_compare(args)
    return cmd_checkpoint(args)


if __name__ == "__main__":
    sys.exit(main() or 0)
