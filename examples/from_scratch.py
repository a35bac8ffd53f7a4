"""A DDPM from scratch in the style of the PyTorch "diffusion model from scratch" tutorials, on
minidiff: the PyTorch names with ``torch`` spelled ``md``.

A small U-Net of Conv2d, BatchNorm2d and ConvTranspose2d blocks with sinusoidal time embeddings,
the closed-form forward process built from ``linspace``, ``cumprod`` and ``gather``, an L1 loss on
the predicted noise, and ancestral sampling. Written for this project (no tutorial's code is
copied); it shows that such code runs and learns here, gradients and optimiser included.

    python examples/from_scratch.py                      # 8x8 digits, 1500 steps, 2 minutes on 2 cores
    python examples/from_scratch.py --steps 50 --out /tmp/fs

It writes ``samples.png`` (a grid of generated digits) and ``model.pt`` (``md.save`` of the state
dict) into ``--out``, and prints the loss as it goes.
"""

from __future__ import annotations

import argparse
import math
import os

import minidiff as md
import minidiff.functional as F
from minidiff import nn

# ---- the forward process: q(x_t | x_0) in closed form

T = 300
betas = md.linspace(0.0001, 0.02, T)
alphas = 1.0 - betas
alphas_cumprod = md.cumprod(alphas, dim=0)
alphas_cumprod_prev = F.pad(alphas_cumprod[:-1], (1, 0), value=1.0)
sqrt_recip_alphas = md.sqrt(1.0 / alphas)
sqrt_alphas_cumprod = md.sqrt(alphas_cumprod)
sqrt_one_minus_alphas_cumprod = md.sqrt(1.0 - alphas_cumprod)
posterior_variance = betas * (1.0 - alphas_cumprod_prev) / (1.0 - alphas_cumprod)


def extract(vals, t, x_shape):
    """The values at timesteps t (B,), shaped (B, 1, 1, 1) to broadcast over images."""
    out = vals.gather(-1, t)
    return out.reshape(t.shape[0], *((1,) * (len(x_shape) - 1)))


def noised(x_0, t):
    noise = md.randn_like(x_0)
    sqrt_alphas_cumprod_t = extract(sqrt_alphas_cumprod, t, x_0.shape)
    sqrt_one_minus_alphas_cumprod_t = extract(sqrt_one_minus_alphas_cumprod, t, x_0.shape)
    return sqrt_alphas_cumprod_t * x_0 + sqrt_one_minus_alphas_cumprod_t * noise, noise


# ---- the model


class UNetBlock(nn.Module):
    def __init__(self, in_ch, out_ch, time_emb_dim, up=False):
        super().__init__()
        self.time_mlp = nn.Linear(time_emb_dim, out_ch)
        if up:
            self.conv1 = nn.Conv2d(2 * in_ch, out_ch, 3, padding=1)
            self.transform = nn.ConvTranspose2d(out_ch, out_ch, 4, 2, 1)
        else:
            self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
            self.transform = nn.Conv2d(out_ch, out_ch, 4, 2, 1)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        self.bnorm1 = nn.BatchNorm2d(out_ch)
        self.bnorm2 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU()

    def forward(self, x, t):
        h = self.bnorm1(self.relu(self.conv1(x)))
        time_emb = self.relu(self.time_mlp(t))
        h = h + time_emb[(...,) + (None,) * 2]  # (B, C) -> (B, C, 1, 1)
        h = self.bnorm2(self.relu(self.conv2(h)))
        return self.transform(h)


class TimeEmbedding(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.dim = dim

    def forward(self, time):
        half_dim = self.dim // 2
        embeddings = math.log(10000) / (half_dim - 1)
        embeddings = md.exp(md.arange(half_dim) * -embeddings)
        embeddings = time[:, None] * embeddings[None, :]
        return md.cat((embeddings.sin(), embeddings.cos()), dim=-1)


class TinyUNet(nn.Module):
    def __init__(self, image_channels=1, down_channels=(32, 64, 128), time_emb_dim=32):
        super().__init__()
        up_channels = down_channels[::-1]
        self.time_mlp = nn.Sequential(TimeEmbedding(time_emb_dim), nn.Linear(time_emb_dim, time_emb_dim), nn.ReLU())
        self.conv0 = nn.Conv2d(image_channels, down_channels[0], 3, padding=1)
        self.downs = nn.ModuleList(
            [UNetBlock(down_channels[i], down_channels[i + 1], time_emb_dim) for i in range(len(down_channels) - 1)]
        )
        self.ups = nn.ModuleList(
            [UNetBlock(up_channels[i], up_channels[i + 1], time_emb_dim, up=True) for i in range(len(up_channels) - 1)]
        )
        self.output = nn.Conv2d(up_channels[-1], image_channels, 1)

    def forward(self, x, timestep):
        t = self.time_mlp(timestep)
        x = self.conv0(x)
        residual_inputs = []
        for down in self.downs:
            x = down(x, t)
            residual_inputs.append(x)
        for up in self.ups:
            x = md.cat((x, residual_inputs.pop()), dim=1)
            x = up(x, t)
        return self.output(x)


# ---- training and sampling


def loss_fn(model, x_0, t):
    x_noisy, noise = noised(x_0, t)
    return F.l1_loss(noise, model(x_noisy, t))


@md.no_grad()
def denoise_step(model, x, t: int):
    """One step of ancestral sampling, x_t -> x_{t-1}."""
    ts = md.full((x.shape[0],), t, dtype=md.int64)
    betas_t = extract(betas, ts, x.shape)
    sqrt_one_minus_alphas_cumprod_t = extract(sqrt_one_minus_alphas_cumprod, ts, x.shape)
    sqrt_recip_alphas_t = extract(sqrt_recip_alphas, ts, x.shape)
    model_mean = sqrt_recip_alphas_t * (x - betas_t * model(x, ts) / sqrt_one_minus_alphas_cumprod_t)
    if t == 0:
        return model_mean
    posterior_variance_t = extract(posterior_variance, ts, x.shape)
    return model_mean + md.sqrt(posterior_variance_t) * md.randn_like(x)


@md.no_grad()
def sample(model, n, size):
    model.eval()
    x = md.randn(n, 1, *size)
    for t in reversed(range(T)):
        x = denoise_step(model, x, t).clamp(-1.0, 1.0)
    model.train()
    return x


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=1500, help="optimiser steps")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--samples", type=int, default=64, help="images in samples.png")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/from-scratch")
    args = parser.parse_args(argv)

    md.manual_seed(args.seed)
    data = md.data.load_dataset("digits")  # (1797, 1, 8, 8) in [-1, 1]
    loader = md.data.DataLoader(data, batch_size=args.batch_size, shuffle=True, drop_last=True, seed=args.seed)
    model = TinyUNet()
    print(f"TinyUNet: {sum(p.numel() for p in model.parameters()):,} parameters")
    optimizer = md.optim.Adam(model.parameters(), lr=args.lr)

    step, losses = 0, []
    while step < args.steps:
        for images, _labels in loader:
            t = md.randint(0, T, (images.shape[0],))
            optimizer.zero_grad()
            loss = loss_fn(model, images, t)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            step += 1
            if step % 100 == 0 or step == args.steps:
                window = losses[-100:]
                print(f"step {step:5d}  loss {sum(window) / len(window):.4f}")
            if step == args.steps:
                break

    os.makedirs(args.out, exist_ok=True)
    md.save(model.state_dict(), os.path.join(args.out, "model.pt"))
    images = sample(model, args.samples, data.images.shape[-2:])
    grid = ((images.permute(0, 2, 3, 1) + 1.0) / 2.0).numpy()
    md.images.save_grid(grid, os.path.join(args.out, "samples.png"))
    print(f"wrote {args.out}/samples.png and {args.out}/model.pt")
    return losses


if __name__ == "__main__":
    main()
