# SPDX-License-Identifier: MIT
"""tapegrad's two LeNets (examples/lenet/models.hpp) in PyTorch, for checkpoints both ways.

The nn.Sequential layers sit at the same indices as tapegrad's, so the state_dict names are the
same ("0.weight", "1.running_mean", "1.num_batches_tracked", ...) and load_state_dict(strict=True)
takes a tapegrad --save file as it is. safetensors is read and written with json and numpy
(scripts/safetensors_numpy.py), Fashion-MNIST from its IDX .gz files (pixels / 255, as tapegrad).

  python3 scripts/torch_lenet.py logits --recipe modern --weights lenet.safetensors --test-limit 500 \\
      [--out torch_logits.safetensors] [--expect tapegrad_logits.safetensors --tolerance 1e-4]
    loads a tapegrad checkpoint strictly, computes the logits of the first N test images (eval
    mode); --expect compares them with tapegrad's (lenet --logits) and fails above --tolerance.
  python3 scripts/torch_lenet.py train --limit 4000 --test-limit 1000 --seed 0 --out torch.safetensors
    trains the modern LeNet for one epoch (Adam lr 1e-3, batch 128) on the first N training images,
    prints its accuracy on the first M test images, and writes its state_dict as safetensors, for
    lenet --recipe modern --init torch.safetensors --epochs 0 --test-limit M.
"""
import argparse
import gzip
import os
import sys

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_numpy  # noqa: E402

DEFAULT_DATA = os.environ.get("TAPEGRAD_FASHION_MNIST", "/usr/share/datasets/fashion-mnist")


def classic_lenet():
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.Sigmoid(), nn.AvgPool2d(2),
        nn.Conv2d(6, 16, 5), nn.Sigmoid(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(400, 120), nn.Sigmoid(), nn.Linear(120, 84), nn.Sigmoid(), nn.Linear(84, 10))


def modern_lenet():
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(400, 120), nn.BatchNorm1d(120), nn.ReLU(),
        nn.Linear(120, 84), nn.BatchNorm1d(84), nn.ReLU(),
        nn.Linear(84, 10))


MODELS = {"classic": classic_lenet, "modern": modern_lenet}


def read_idx(path):
    """An IDX file (gzip'd): the images as float32 [N, 1, 28, 28] in [0, 1], or the labels as int64."""
    with gzip.open(path, "rb") as f:
        blob = f.read()
    dims = blob[3]
    shape = [int.from_bytes(blob[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    data = np.frombuffer(blob[4 + 4 * dims :], dtype=np.uint8).reshape(shape)
    if dims == 3:
        return torch.from_numpy(data.astype(np.float32) / np.float32(255)).unsqueeze(1)
    return torch.from_numpy(data.astype(np.int64))


def fashion_mnist(root, train, limit):
    prefix = "train" if train else "t10k"
    images = read_idx(os.path.join(root, f"{prefix}-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(root, f"{prefix}-labels-idx1-ubyte.gz"))
    if limit:
        images, labels = images[:limit], labels[:limit]
    return images, labels


def load_weights(model, path):
    tensors, _ = safetensors_numpy.read(path)
    model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in tensors.items()}, strict=True)


def save_weights(model, path, metadata):
    tensors = {k: v.detach().cpu().contiguous().numpy() for k, v in model.state_dict().items()}
    safetensors_numpy.write(path, tensors, metadata)


@torch.no_grad()
def logits_of(model, images, batch_size=256):
    model.eval()
    return torch.cat([model(images[i : i + batch_size]) for i in range(0, len(images), batch_size)])


def cmd_logits(args):
    model = MODELS[args.recipe]()
    load_weights(model, args.weights)
    images, labels = fashion_mnist(args.data, False, args.test_limit)
    logits = logits_of(model, images).numpy()
    print(f"loaded {args.weights} into the {args.recipe} LeNet with strict=True; logits of {len(images)} test images")
    if args.out:
        safetensors_numpy.write(args.out, {"logits": logits, "labels": labels.numpy()}, {"program": "torch_lenet.py"})
    if args.expect:
        theirs, _ = safetensors_numpy.read(args.expect)
        if theirs["logits"].shape != logits.shape:
            sys.exit(f"torch_lenet.py: {args.expect} has logits of shape {theirs['logits'].shape}, expected {logits.shape}")
        diff = float(np.abs(theirs["logits"].astype(np.float64) - logits).max())
        print(f"max abs diff {diff:.3g} (tolerance {args.tolerance:g}) over logits of max abs {np.abs(logits).max():.3g}")
        if not diff <= args.tolerance:
            sys.exit(1)


def cmd_train(args):
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    model = modern_lenet()
    images, labels = fashion_mnist(args.data, True, args.limit)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    model.train()
    for _ in range(args.epochs):
        order = torch.randperm(len(images))
        for i in range(0, len(images), args.batch_size):
            batch = order[i : i + args.batch_size]
            loss = nn.functional.cross_entropy(model(images[batch]), labels[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    test_images, test_labels = fashion_mnist(args.data, False, args.test_limit)
    correct = int((logits_of(model, test_images).argmax(1) == test_labels).sum())
    save_weights(model, args.out, {"program": "torch_lenet.py"})
    print(f"test_acc {correct / len(test_images):.4f} correct {correct}/{len(test_images)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DEFAULT_DATA, help="directory with the Fashion-MNIST .gz files")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("logits", help="load a tapegrad LeNet strictly and compute test logits")
    p.add_argument("--recipe", choices=MODELS, required=True)
    p.add_argument("--weights", required=True)
    p.add_argument("--test-limit", type=int, default=0)
    p.add_argument("--out")
    p.add_argument("--expect", help="tapegrad's logits (lenet --logits) to compare with")
    p.add_argument("--tolerance", type=float, default=1e-4)
    p.set_defaults(run=cmd_logits)
    p = sub.add_parser("train", help="train the modern LeNet and write its state_dict")
    p.add_argument("--limit", type=int, default=4000)
    p.add_argument("--test-limit", type=int, default=1000)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", required=True)
    p.set_defaults(run=cmd_train)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
