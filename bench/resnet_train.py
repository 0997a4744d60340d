#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""build/bin/resnet --resize 28 in PyTorch: the same network, the book's initialisation and recipe (SGD lr 0.05,
batch 256, 10 epochs), one thread; prints the same epoch line. Usage: /usr/bin/python3 bench/resnet_train.py [SEED]
"""
import gzip, sys, time, numpy as np, torch, torch.nn as nn, torch.nn.functional as F
seed = int(sys.argv[1]) if len(sys.argv) > 1 else 0
torch.manual_seed(seed); torch.set_num_threads(1)
def load(kind):
    d = '/usr/share/datasets/fashion-mnist/'
    x = np.frombuffer(gzip.open(d + f'{kind}-images-idx3-ubyte.gz').read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    y = np.frombuffer(gzip.open(d + f'{kind}-labels-idx1-ubyte.gz').read(), np.uint8, offset=8)
    return torch.tensor(x / 255., dtype=torch.float32), torch.tensor(y, dtype=torch.int64)
xtr, ytr = load('train'); xte, yte = load('t10k')
class Residual(nn.Module):
    def __init__(self, i, c, proj, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(i, c, 3, stride=stride, padding=1); self.conv2 = nn.Conv2d(c, c, 3, padding=1)
        self.conv3 = nn.Conv2d(i, c, 1, stride=stride) if proj else None
        self.bn1, self.bn2 = nn.BatchNorm2d(c), nn.BatchNorm2d(c)
    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x))); y = self.bn2(self.conv2(y))
        return F.relu(y + (self.conv3(x) if self.conv3 is not None else x))
def stage(i, c, first):
    return nn.Sequential(Residual(c, c, False, 1) if first else Residual(i, c, True, 2), Residual(c, c, False, 1))
net = nn.Sequential(nn.Sequential(nn.Conv2d(1, 64, 7, stride=2, padding=3), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1)),
                    stage(64, 64, True), stage(64, 128, False), stage(128, 256, False), stage(256, 512, False),
                    nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 10))
net.apply(lambda m: nn.init.xavier_uniform_(m.weight) if type(m) in (nn.Conv2d, nn.Linear) else None)
opt = torch.optim.SGD(net.parameters(), lr=0.05)
for ep in range(1, 11):
    net.train(); perm = torch.randperm(len(xtr)); t0 = time.time(); tot = 0; hits = 0
    for i in range(0, len(xtr), 256):
        idx = perm[i:i + 256]; out = net(xtr[idx]); loss = F.cross_entropy(out, ytr[idx])
        opt.zero_grad(); loss.backward(); opt.step()
        tot += loss.item() * len(idx); hits += (out.argmax(1) == ytr[idx]).sum().item()
    secs = time.time() - t0
    net.eval(); correct = 0
    with torch.no_grad():
        for i in range(0, len(xte), 256): correct += (net(xte[i:i + 256]).argmax(1) == yte[i:i + 256]).sum().item()
    print(f"epoch {ep} loss {tot / len(xtr):.4f} train_acc {hits / len(xtr):.4f} test_acc {correct / len(xte):.4f} img_per_s {len(xtr) / secs:.0f}", flush=True)
