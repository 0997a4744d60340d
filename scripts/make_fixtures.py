#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Regenerates the PyTorch reference values that tapegrad's tests compare against.

What it writes: small float32 .npy files in tests/fixtures/torch/, one array per file,
read by tests/framework/test_pytorch_reference.cpp (tag "[torch]"). The tests never run
PyTorch; they only read these committed files. Every case stores its inputs, the forward
result, a random upstream gradient G and the gradients of (result * G).sum():

  corr2d_case{i}_{X,K,Y,G,dX,dK}      cross-correlation, via F.conv2d on [1, 1, h, w]
  {add,sub,mul,div}_case{i}_{a,b,y,G,da,db}
                                      broadcasting arithmetic; da, db already summed
                                      back to the input shapes by torch
  matmul_case{i}_{a,b,y,G,da,db}      torch.matmul, incl. batched, broadcast and vectors
  {exp,log,relu,...}_{x,y,G,dx}       elementwise functions and reductions
  sgd_grads, sgd_p0                   5 fixed gradients [5, 2, 3] and the start point
  sgd_{config}_params                 the parameter after each of the 5 steps [5, 2, 3]
  seed_{X,Y,weight0,bias0,losses,weight,bias}
                                      the seed notebook's experiment: a 1x2 Conv2D learns
                                      K = [[1, -1]] with SGD lr 0.01 for 20 steps

How to rerun (from the repository root):

  /usr/bin/python3 scripts/make_fixtures.py

Use Debian's interpreter: torch (Debian's python3-torch, 1.13) and numpy import only there.
The output is deterministic (torch.manual_seed), so rerunning it changes no file unless
the cases here change. Keep the directory small (well under 300 KB): the files are committed.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures"))
from common import ROOT, require_torch, saver  # noqa: E402

np, torch = require_torch("scripts/make_fixtures.py")
import torch.nn.functional as F  # noqa: E402

OUT = os.path.join(ROOT, "tests", "fixtures", "torch")
save = saver(OUT)


def leaf(tensor):
    return tensor.to(torch.float32).requires_grad_(True)


def edge_image():
    X = torch.ones((6, 8))
    X[:, 2:6] = 0
    return X


def corr2d_cases():
    # (X, K); the first is the seed's edge image with its edge detector.
    cases = [
        (edge_image(), torch.tensor([[1.0, -1.0]])),
        (torch.randn(7, 9), torch.randn(3, 2)),
        (torch.randn(5, 5), torch.randn(5, 5)),
        (torch.randn(4, 6), torch.randn(1, 1)),
        (torch.randn(8, 3), torch.randn(4, 1)),
    ]
    for i, (X, K) in enumerate(cases):
        X, K = leaf(X), leaf(K)
        Y = F.conv2d(X[None, None], K[None, None])[0, 0]  # conv2d is cross-correlation
        G = torch.randn(Y.shape)
        (Y * G).sum().backward()
        for name, value in [("X", X), ("K", K), ("Y", Y), ("G", G), ("dX", X.grad), ("dK", K.grad)]:
            save(f"corr2d_case{i}_{name}", value)


def binary_cases(name, op, shapes, make_b):
    for i, (shape_a, shape_b) in enumerate(shapes):
        a, b = leaf(torch.randn(shape_a)), leaf(make_b(shape_b))
        y = op(a, b)
        G = torch.randn(y.shape)
        (y * G).sum().backward()
        for part, value in [("a", a), ("b", b), ("y", y), ("G", G), ("da", a.grad), ("db", b.grad)]:
            save(f"{name}_case{i}_{part}", value)


def away_from_zero(shape):
    # |b| in [0.5, 2) with a random sign, so that a / b stays moderate.
    magnitude = 0.5 + 1.5 * torch.rand(shape)
    return torch.where(torch.rand(shape) < 0.5, -magnitude, magnitude)


def arithmetic_cases():
    shapes = [([3, 4], [3, 4]), ([3, 1], [1, 4]), ([4], [2, 3, 4]), ([2, 1, 4], [3, 1]), ([], [2, 3])]
    binary_cases("add", torch.add, shapes, torch.randn)
    binary_cases("sub", torch.sub, shapes, torch.randn)
    binary_cases("mul", torch.mul, shapes, torch.randn)
    binary_cases("div", torch.div, shapes, away_from_zero)


def matmul_cases():
    shapes = [
        ([3, 4], [4, 5]),
        ([2, 3, 4], [2, 4, 5]),
        ([2, 3, 4], [4, 5]),
        ([5, 2, 3, 4], [2, 4, 6]),
        ([4], [4, 5]),
        ([3, 4], [4]),
        ([4], [2, 4, 3]),
    ]
    binary_cases("matmul", torch.matmul, shapes, torch.randn)


def positive(shape):
    return 0.1 + 2 * torch.rand(shape)


def unary_cases():
    relu_input = torch.randn(3, 4)
    relu_input[1, 2] = 0  # the kink: PyTorch takes the subgradient 0 there
    cases = [
        ("exp", torch.randn(3, 4), torch.exp),
        ("log", positive([3, 4]), torch.log),
        ("relu", relu_input, torch.relu),
        ("sigmoid", 3 * torch.randn(3, 4), torch.sigmoid),
        ("tanh", 2 * torch.randn(3, 4), torch.tanh),
        ("pow3", torch.randn(3, 4), lambda x: torch.pow(x, 3)),
        ("pow_half", positive([3, 4]), lambda x: torch.pow(x, 0.5)),
        ("square", torch.randn(3, 4), torch.square),
        ("sum_all", torch.randn(3, 4), torch.sum),
        ("sum_dim1_keepdim", torch.randn(3, 4), lambda x: x.sum(dim=1, keepdim=True)),
        ("sum_dim0", torch.randn(3, 4), lambda x: x.sum(dim=0)),
        ("sum_dim_neg1", torch.randn(2, 3, 4), lambda x: x.sum(dim=-1)),
        ("mean_all", torch.randn(3, 4), torch.mean),
        ("mean_dim1", torch.randn(3, 4), lambda x: x.mean(dim=1)),
        ("mean_dim0_keepdim", torch.randn(2, 3, 4), lambda x: x.mean(dim=0, keepdim=True)),
    ]
    for name, x, op in cases:
        x = leaf(x)
        y = op(x)
        G = torch.randn(y.shape)
        (y * G).sum().backward()
        for part, value in [("x", x), ("y", y), ("G", G), ("dx", x.grad)]:
            save(f"{name}_{part}", value)


def sgd_cases():
    p0 = torch.randn(2, 3)
    grads = torch.randn(5, 2, 3)
    save("sgd_p0", p0)
    save("sgd_grads", grads)
    configs = {
        "plain": dict(lr=0.1),
        "momentum": dict(lr=0.1, momentum=0.9),
        "dampening": dict(lr=0.1, momentum=0.9, dampening=0.1),
        "nesterov": dict(lr=0.1, momentum=0.9, nesterov=True),
        "weight_decay": dict(lr=0.1, momentum=0.5, weight_decay=0.01),
    }
    for name, config in configs.items():
        p = torch.nn.Parameter(p0.clone())
        optimizer = torch.optim.SGD([p], **config)
        trajectory = []
        for g in grads:
            p.grad = g.clone()
            optimizer.step()
            trajectory.append(p.detach().clone())
        save(f"sgd_{name}_params", torch.stack(trajectory))


def corr2d(X, K):
    """The notebook's corr2d, a loop over output positions."""
    h, w = K.shape
    Y = torch.zeros((X.shape[0] - h + 1, X.shape[1] - w + 1))
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            Y[i, j] = (X[i : i + h, j : j + w] * K).sum()
    return Y


class Conv2D(torch.nn.Module):
    def __init__(self, weight, bias):
        super().__init__()
        self.weight = torch.nn.Parameter(weight.clone())
        self.bias = torch.nn.Parameter(bias.clone())

    def forward(self, x):
        return corr2d(x, self.weight) + self.bias


def seed_experiment():
    X = edge_image()
    Y = corr2d(X, torch.tensor([[1.0, -1.0]]))
    weight0, bias0 = torch.randn(1, 2), torch.randn(1)
    model = Conv2D(weight0, bias0)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    losses = []
    for _ in range(20):
        optimizer.zero_grad()
        loss = ((model(X) - Y) ** 2).sum()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    for name, value in [("X", X), ("Y", Y), ("weight0", weight0), ("bias0", bias0)]:
        save(f"seed_{name}", value)
    save("seed_losses", torch.tensor(losses))
    save("seed_weight", model.weight)
    save("seed_bias", model.bias)


def main():
    os.makedirs(OUT, exist_ok=True)
    for stale in os.listdir(OUT):
        if stale.endswith(".npy"):
            os.remove(os.path.join(OUT, stale))
    torch.manual_seed(0)
    corr2d_cases()
    arithmetic_cases()
    matmul_cases()
    unary_cases()
    sgd_cases()
    seed_experiment()
    files = sorted(os.listdir(OUT))
    size = sum(os.path.getsize(os.path.join(OUT, f)) for f in files)
    print(f"make_fixtures.py: torch {torch.__version__}, wrote {len(files)} files ({size / 1024:.1f} KB) to {OUT}")


if __name__ == "__main__":
    main()
