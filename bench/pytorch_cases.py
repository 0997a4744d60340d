# SPDX-License-Identifier: MIT
"""The cases of tg_bench (bench/*.cpp) in PyTorch, for bench/compare_pytorch.py.

Each case is defined as in its C++ twin: same shapes, same ops, same gradients cleared, so
the two times measure the same work. A case renamed or redefined in bench/*.cpp must change
here too. Only the standard library is imported here; torch is passed in.
"""
import time

CONV_SHAPES = {  # name: (N, C, H, W, O, k, padding)
    "lenet_conv1": (256, 1, 28, 28, 6, 5, 2),
    "lenet_conv2": (256, 6, 14, 14, 16, 5, 0),
    "c64_56": (32, 64, 56, 56, 64, 3, 1),
}
CHAIN_LENGTHS = (1_000, 10_000, 100_000, 1_000_000)
CHAIN_FACTOR = 0.999999  # bench/common.hpp's kChainFactor
BATCH_SIZES = (1, 4, 16, 64, 256)
LENET_BATCH = 256
RESNET_BATCH = 256
RESNET_SIZES = (28, 96)
# bench/bench_matmul.cpp's matmul/shape cases: [n, k] x [k, m].
MATMUL_SHAPES = ((32, 28, 128), (64, 64, 64), (128, 128, 128), (192, 192, 192), (256, 256, 256), (384, 384, 384),
                 (512, 512, 512))


def conv_flops(N, C, H, W, O, k, p):
    """Forward and backward: 3 times the forward's 2 N O C k^2 OH OW."""
    OH, OW = H + 2 * p - k + 1, W + 2 * p - k + 1
    return 3 * 2 * N * O * C * k * k * OH * OW


def work_of(case):
    """(amount, kind) for the throughput column: kind is 'FLOP', 'images' or 'entries'."""
    parts = case.split("/")
    if parts[0] == "conv2d" and parts[1] in CONV_SHAPES:
        return conv_flops(*CONV_SHAPES[parts[1]]), "FLOP"
    if parts[:2] == ["conv2d", "batch_scaling"]:
        return int(parts[2]), "images"
    if parts[:2] in (["tape", "chain"], ["tape", "chain_scalar"]):
        return int(parts[2]), "entries"
    if case == "matmul/1024":
        return 2 * 1024**3, "FLOP"
    if parts[:2] == ["matmul", "shape"]:
        n, k, m = (int(part.split(":")[1]) for part in parts[2:5])
        return 2 * n * k * m, "FLOP"
    if parts[0] == "lenet":
        return LENET_BATCH, "images"
    if parts[0] == "resnet":
        return RESNET_BATCH, "images"
    return None


def torch_cases(torch):
    """name -> setup(); setup() builds the inputs and returns the step to time."""
    import torch.nn as nn
    import torch.nn.functional as F

    def tiny_loop():
        a = torch.randn(2, 2, requires_grad=True)

        def step():
            (a * a + a).sum().backward()
            a.grad = None
        return step

    def seed_20_steps():
        X = torch.ones(6, 8)
        X[:, 2:6] = 0
        X = X.reshape(1, 1, 6, 8)
        Y = F.conv2d(X, torch.tensor([[[[1.0, -1.0]]]]))

        def step():
            conv = nn.Conv2d(1, 1, kernel_size=(1, 2))
            optimizer = torch.optim.SGD(conv.parameters(), lr=0.01)
            for _ in range(20):
                l = ((conv(X) - Y) ** 2).sum()
                optimizer.zero_grad(set_to_none=True)
                l.backward()
                optimizer.step()
        return step

    def chain(n):
        def setup():
            x0 = torch.randn(4, requires_grad=True)

            def step():
                x = x0
                for i in range(n):
                    x = x * 0.9999 if i % 2 == 0 else x + 0.0001
                x.sum().backward()
                x0.grad = None
            return step
        return setup

    def chain_scalar(n):
        def setup():
            y0 = torch.ones(1, requires_grad=True)

            def step():
                y = y0
                for _ in range(n):
                    y = y * CHAIN_FACTOR
                y.backward()
                y0.grad = None
            return step
        return setup

    def conv(N, C, H, W, O, k, p):
        def setup():
            x = torch.randn(N, C, H, W, requires_grad=True)
            w = torch.randn(O, C, k, k, requires_grad=True)
            b = torch.randn(O, requires_grad=True)

            def step():
                y = F.conv2d(x, w, b, padding=p)
                y.backward(torch.ones_like(y))
                x.grad = w.grad = b.grad = None
            return step
        return setup

    def matmul():
        A, B = torch.randn(1024, 1024), torch.randn(1024, 1024)
        return lambda: torch.matmul(A, B)

    def matmul_shape(n, k, m):
        def setup():
            A, B = torch.randn(n, k), torch.randn(k, m)
            return lambda: torch.matmul(A, B)
        return setup

    # examples/lenet/main.cpp's two networks.
    def classic_lenet():
        net = nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.Sigmoid(), nn.AvgPool2d(2),
            nn.Conv2d(6, 16, 5), nn.Sigmoid(), nn.AvgPool2d(2),
            nn.Flatten(), nn.Linear(400, 120), nn.Sigmoid(), nn.Linear(120, 84), nn.Sigmoid(),
            nn.Linear(84, 10))
        for m in net:
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
        return net, torch.optim.SGD(net.parameters(), lr=0.9)

    def modern_lenet():
        net = nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(400, 120), nn.BatchNorm1d(120), nn.ReLU(),
            nn.Linear(120, 84), nn.BatchNorm1d(84), nn.ReLU(), nn.Linear(84, 10))
        return net, torch.optim.Adam(net.parameters(), lr=1e-3)

    def lenet(make):
        def setup():
            net, optimizer = make()
            images = torch.rand(LENET_BATCH, 1, 28, 28)
            labels = torch.randint(0, 10, (LENET_BATCH,))

            def step():
                loss = F.cross_entropy(net(images), labels)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            return step
        return setup

    # examples/resnet/models.hpp's ResNet-18 (the book's, for 1-channel images), SGD lr 0.05.
    class Residual(nn.Module):
        def __init__(self, in_channels, channels, use_1x1conv, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(in_channels, channels, 3, stride=stride, padding=1)
            self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
            self.conv3 = nn.Conv2d(in_channels, channels, 1, stride=stride) if use_1x1conv else None
            self.bn1, self.bn2 = nn.BatchNorm2d(channels), nn.BatchNorm2d(channels)

        def forward(self, x):
            y = F.relu(self.bn1(self.conv1(x)))
            y = self.bn2(self.conv2(y))
            return F.relu(y + (self.conv3(x) if self.conv3 is not None else x))

    def stage(in_channels, channels, first_stage):
        first = Residual(channels, channels, False, 1) if first_stage else Residual(in_channels, channels, True, 2)
        return nn.Sequential(first, Residual(channels, channels, False, 1))

    def resnet(size):
        def setup():
            net = nn.Sequential(
                nn.Sequential(nn.Conv2d(1, 64, 7, stride=2, padding=3), nn.BatchNorm2d(64), nn.ReLU(),
                              nn.MaxPool2d(3, stride=2, padding=1)),
                stage(64, 64, True), stage(64, 128, False), stage(128, 256, False), stage(256, 512, False),
                nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 10))
            optimizer = torch.optim.SGD(net.parameters(), lr=0.05)
            images = torch.rand(RESNET_BATCH, 1, size, size)
            labels = torch.randint(0, 10, (RESNET_BATCH,))

            def step():
                loss = F.cross_entropy(net(images), labels)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            return step
        return setup

    # bench/bench_lenet.cpp's gradient and double-backward Hessian-vector product.
    def lenet_grad(hvp):
        def setup():
            net, _ = classic_lenet()
            params = list(net.parameters())
            images = torch.rand(LENET_BATCH, 1, 28, 28)
            labels = torch.randint(0, 10, (LENET_BATCH,))
            v = [torch.randn_like(p) for p in params]

            def step():
                loss = F.cross_entropy(net(images), labels)
                if not hvp:
                    return torch.autograd.grad(loss, params)
                g = torch.autograd.grad(loss, params, create_graph=True)
                return torch.autograd.grad(g, params, grad_outputs=v)
            return step
        return setup

    def lenet_forward_mode(what):
        """The classic LeNet's loss: forward alone (no_grad), its JVP along a direction of the
        parameters (forward_ad, the parameters replaced by dual tensors), and the Hessian-vector
        product forward over reverse (the gradient taken inside the dual level)."""
        import torch.autograd.forward_ad as fwAD

        def setup():
            net, _ = classic_lenet()
            names = [n for n, _ in net.named_parameters()]
            params = [p.detach() for p in net.parameters()]
            images = torch.rand(LENET_BATCH, 1, 28, 28)
            labels = torch.randint(0, 10, (LENET_BATCH,))
            v = [torch.randn_like(p) for p in params]

            call = torch.func.functional_call if hasattr(torch, "func") else torch.nn.utils.stateless.functional_call

            def loss(ps):
                logits = call(net, dict(zip(names, ps)), (images,))
                if what != "hvp_fwd":
                    return F.cross_entropy(logits, labels)
                # PyTorch 1.13 has no forward-mode formula for nll_loss_backward nor for
                # _log_softmax_backward_data: cross_entropy spelled out, whose pieces have one.
                log_p = logits - torch.logsumexp(logits, 1, keepdim=True)
                return -log_p.gather(1, labels[:, None]).mean()

            def step():
                if what == "forward":
                    with torch.no_grad():
                        return loss(params)
                with fwAD.dual_level():
                    if what == "jvp":
                        with torch.no_grad():
                            return fwAD.unpack_dual(loss([fwAD.make_dual(p, t) for p, t in zip(params, v)])).tangent
                    leaves = [p.clone().requires_grad_() for p in params]
                    duals = [fwAD.make_dual(p, t) for p, t in zip(leaves, v)]
                    g = torch.autograd.grad(loss(duals), duals)
                    return [fwAD.unpack_dual(gk).tangent for gk in g]
            return step
        return setup

    # bench/bench_sequence.cpp: a character-level language model's shapes.
    SB, ST, SV, SC, SH = 32, 64, 114, 128, 4  # not B, C, H: the conv cases below rebind those names

    def fwd_bwd(make):
        def setup():
            torch.manual_seed(0)
            leaves, run = make()
            out = run()
            g = torch.randn(out.shape)

            def step():
                run().backward(g)
                for t in leaves:
                    t.grad = None
            return step
        return setup

    def layer_norm():
        x = torch.randn(SB * ST, SC, requires_grad=True)
        w, b = torch.ones(SC, requires_grad=True), torch.zeros(SC, requires_grad=True)
        return [x, w, b], lambda: F.layer_norm(x, (SC,), w, b)

    def attention():
        q, k, v = (torch.randn(SB, SH, ST, SC // SH, requires_grad=True) for _ in range(3))
        if hasattr(F, "scaled_dot_product_attention"):
            return [q, k, v], lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True)
        # torch < 2.0 has no fused op: the same math as a user of it writes it
        forbid = ~torch.ones(ST, ST, dtype=torch.bool).tril()

        def run():
            s = (q @ k.transpose(-2, -1)) * (SC // SH) ** -0.5
            return torch.softmax(s.masked_fill(forbid, float("-inf")), -1) @ v
        return [q, k, v], run

    def embedding():
        table = torch.randn(SV, SC, requires_grad=True)
        ids = torch.randint(0, SV, (SB, ST))
        return [table], lambda: F.embedding(ids, table)

    def cross_entropy():
        logits = torch.randn(SB * ST, SV, requires_grad=True)
        targets = torch.randint(0, SV, (SB * ST,))

        def setup():
            def step():
                F.cross_entropy(logits, targets).backward()
                logits.grad = None
            return step
        return setup

    def cat_split():
        x = torch.randn(SB, ST, 3 * SC, requires_grad=True)
        return [x], lambda: torch.cat(x.split(SC, 2), 2)

    cases = {"tape/tiny_loop": tiny_loop, "tape/seed_20_steps": seed_20_steps}
    cases["sequence/layer_norm"] = fwd_bwd(layer_norm)
    cases["sequence/attention_causal"] = fwd_bwd(attention)
    cases["sequence/embedding"] = fwd_bwd(embedding)
    cases["sequence/cross_entropy"] = cross_entropy()
    cases["sequence/cat_split"] = fwd_bwd(cat_split)
    cases.update({f"tape/chain/{n}": chain(n) for n in CHAIN_LENGTHS})
    cases.update({f"tape/chain_scalar/{n}": chain_scalar(n) for n in CHAIN_LENGTHS})
    cases.update({f"conv2d/{name}": conv(*shape) for name, shape in CONV_SHAPES.items()})
    N, C, H, W, O, k, p = CONV_SHAPES["lenet_conv2"]
    cases.update({f"conv2d/batch_scaling/{B}": conv(B, C, H, W, O, k, p) for B in BATCH_SIZES})
    cases["matmul/1024"] = matmul
    cases.update({f"matmul/shape/n:{n}/k:{k}/m:{m}": matmul_shape(n, k, m) for n, k, m in MATMUL_SHAPES})
    cases["lenet/classic_step"] = lenet(classic_lenet)
    cases["lenet/modern_step"] = lenet(modern_lenet)
    cases["lenet/classic_grad"] = lenet_grad(False)
    cases["lenet/classic_hvp"] = lenet_grad(True)
    cases["lenet/classic_forward"] = lenet_forward_mode("forward")
    cases["lenet/classic_jvp"] = lenet_forward_mode("jvp")
    cases["lenet/classic_hvp_fwd"] = lenet_forward_mode("hvp_fwd")
    cases.update({f"resnet/step/{size}": resnet(size) for size in RESNET_SIZES})
    return cases


def measure(step, repetitions, sample_seconds=0.25):
    """Seconds per call of `step`, one number per repetition. After a warm-up call, each sample
    makes as many calls as last >= sample_seconds (as libtorch_ref.cpp's measure); calls slower
    than that are timed one by one, and a call over 5 s is timed once, as its own warm-up."""
    def run(inner):
        start = time.perf_counter()
        for _ in range(inner):
            step()
        return time.perf_counter() - start

    first = run(1)  # warm-up
    if first > 20 * sample_seconds:  # a call this long (a 10^6-op chain) warms itself up:
        return [first]  # one sample, rather than minutes of them
    if first > 2 * sample_seconds:  # a slow case: repetitions of one call each
        return [run(1) for _ in range(repetitions)]
    inner = 1
    while run(inner) < sample_seconds:
        inner *= 2
    return [run(inner) / inner for _ in range(repetitions)]


def set_blas_threads(threads):
    """torch.set_num_threads does not reach OpenBLAS's own thread pool (Debian's
    libopenblas0-pthread): without this, PyTorch's "1 thread" matrix products use every core."""
    import ctypes

    for name in ("libopenblas.so.0", "libblas.so.3"):
        try:
            lib = ctypes.CDLL(name)
            lib.openblas_set_num_threads(ctypes.c_int(threads))
            return True
        except (OSError, AttributeError):
            continue
    return False


def blas_library(torch):
    """The BLAS library torch's matrix products run on (as mapped into this process)."""
    torch.ones(64, 64) @ torch.ones(64, 64)  # make sure it is loaded
    try:
        maps = open("/proc/self/maps").read().splitlines()
    except OSError:
        return None
    paths = {line.split()[-1] for line in maps if "blas" in line.rsplit("/", 1)[-1].lower()}
    return ", ".join(sorted(paths)) or None
