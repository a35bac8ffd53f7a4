"""A conditional-free DDPM in the style of the other popular "diffusion models from scratch" code
(a U-Net of double convolutions with GroupNorm and GELU, max-pool downsampling, bilinear
upsampling, self-attention through ``nn.MultiheadAttention``, a torchvision-style data pipeline),
on minidiff: the PyTorch names with ``torch`` spelled ``md``, ``torchvision.transforms`` spelled
``md.transforms``. Written for this project (no tutorial's code is copied).

    python examples/attention_unet.py                      # 8x8 digits upscaled to 16x16, 2000 steps
    python examples/attention_unet.py --steps 50 --out /tmp/au

It writes ``samples.png`` (a grid of generated digits) and ``model.pt`` into ``--out``.
"""

from __future__ import annotations

import argparse
import os

import numpy as np
from PIL import Image

import minidiff as md
import minidiff.functional as F
from minidiff import nn
from minidiff import transforms as T

# ---- the data: PIL images through a torchvision-style pipeline


class DigitImages(md.utils.data.Dataset):
    """scikit-learn's 8x8 digits as PIL images, passed through ``transform``."""

    def __init__(self, transform):
        images = md.data.load_dataset("digits").images[:, 0]  # (N, 8, 8) in [-1, 1]
        self.images = [Image.fromarray(np.rint((im + 1.0) * 127.5).astype(np.uint8)) for im in images]
        self.transform = transform

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.transform(self.images[i])


# ---- the model


class SelfAttention(nn.Module):
    def __init__(self, channels, heads=4):
        super().__init__()
        self.mha = nn.MultiheadAttention(channels, heads, batch_first=True)
        self.ln = nn.LayerNorm([channels])
        self.ff = nn.Sequential(nn.LayerNorm([channels]), nn.Linear(channels, channels), nn.GELU(),
                                nn.Linear(channels, channels))  # fmt: skip

    def forward(self, x):
        b, c, h, w = x.shape
        tokens = x.flatten(2).transpose(1, 2)  # (B, HW, C)
        normed = self.ln(tokens)
        attended, _ = self.mha(normed, normed, normed, need_weights=False)
        tokens = attended + tokens
        tokens = self.ff(tokens) + tokens
        return tokens.transpose(1, 2).reshape(b, c, h, w)


class DoubleConv(nn.Module):
    def __init__(self, in_ch, out_ch, mid_ch=None, residual=False):
        super().__init__()
        mid_ch = mid_ch or out_ch
        self.residual = residual
        self.double_conv = nn.Sequential(
            nn.Conv2d(in_ch, mid_ch, 3, padding=1, bias=False), nn.GroupNorm(1, mid_ch), nn.GELU(),
            nn.Conv2d(mid_ch, out_ch, 3, padding=1, bias=False), nn.GroupNorm(1, out_ch),
        )  # fmt: skip

    def forward(self, x):
        return F.gelu(x + self.double_conv(x)) if self.residual else self.double_conv(x)


class Down(nn.Module):
    def __init__(self, in_ch, out_ch, emb_dim):
        super().__init__()
        self.conv = nn.Sequential(nn.MaxPool2d(2), DoubleConv(in_ch, in_ch, residual=True), DoubleConv(in_ch, out_ch))
        self.emb = nn.Sequential(nn.SiLU(), nn.Linear(emb_dim, out_ch))

    def forward(self, x, t):
        x = self.conv(x)
        return x + self.emb(t)[:, :, None, None]


class Up(nn.Module):
    def __init__(self, in_ch, out_ch, emb_dim):
        super().__init__()
        self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
        self.conv = nn.Sequential(DoubleConv(in_ch, in_ch, residual=True), DoubleConv(in_ch, out_ch, in_ch // 2))
        self.emb = nn.Sequential(nn.SiLU(), nn.Linear(emb_dim, out_ch))

    def forward(self, x, skip, t):
        x = self.conv(md.cat([skip, self.up(x)], dim=1))
        return x + self.emb(t)[:, :, None, None]


class AttentionUNet(nn.Module):
    def __init__(self, channels=1, width=32, time_dim=64):
        super().__init__()
        self.time_dim = time_dim
        self.inc = DoubleConv(channels, width)
        self.down1, self.sa1 = Down(width, 2 * width, time_dim), SelfAttention(2 * width)
        self.down2, self.sa2 = Down(2 * width, 2 * width, time_dim), SelfAttention(2 * width)
        self.bot = DoubleConv(2 * width, 2 * width)
        self.up1, self.sa3 = Up(4 * width, width, time_dim), SelfAttention(width)
        self.up2 = Up(2 * width, width, time_dim)
        self.outc = nn.Conv2d(width, channels, 1)

    def pos_encoding(self, t):
        """Sinusoidal features of the integer timesteps t (B,) -> (B, time_dim)."""
        inv_freq = 1.0 / (10000 ** (md.arange(0, self.time_dim, 2).float() / self.time_dim))
        angles = t[:, None].float() * inv_freq[None, :]
        return md.cat([angles.sin(), angles.cos()], dim=-1)

    def forward(self, x, t):
        t = self.pos_encoding(t)
        x1 = self.inc(x)
        x2 = self.sa1(self.down1(x1, t))
        x3 = self.sa2(self.down2(x2, t))
        x3 = self.bot(x3)
        x = self.sa3(self.up1(x3, x2, t))
        x = self.up2(x, x1, t)
        return self.outc(x)


# ---- the diffusion process


class Diffusion:
    def __init__(self, noise_steps=400, beta_start=1e-4, beta_end=0.02, img_size=16):
        self.noise_steps, self.img_size = noise_steps, img_size
        self.beta = md.linspace(beta_start, beta_end, noise_steps)
        self.alpha = 1.0 - self.beta
        self.alpha_hat = md.cumprod(self.alpha, dim=0)

    def noise_images(self, x, t):
        sqrt_alpha_hat = md.sqrt(self.alpha_hat[t])[:, None, None, None]
        sqrt_one_minus_alpha_hat = md.sqrt(1.0 - self.alpha_hat[t])[:, None, None, None]
        eps = md.randn_like(x)
        return sqrt_alpha_hat * x + sqrt_one_minus_alpha_hat * eps, eps

    def sample_timesteps(self, n):
        return md.randint(1, self.noise_steps, (n,))

    @md.no_grad()
    def sample(self, model, n):
        model.eval()
        x = md.randn((n, 1, self.img_size, self.img_size))
        for i in reversed(range(1, self.noise_steps)):
            t = (md.ones(n) * i).long()
            predicted_noise = model(x, t)
            alpha = self.alpha[t][:, None, None, None]
            alpha_hat = self.alpha_hat[t][:, None, None, None]
            beta = self.beta[t][:, None, None, None]
            noise = md.randn_like(x) if i > 1 else md.zeros_like(x)
            x = 1 / md.sqrt(alpha) * (x - ((1 - alpha) / md.sqrt(1 - alpha_hat)) * predicted_noise)
            x = x + md.sqrt(beta) * noise
        model.train()
        return (x.clamp(-1, 1) + 1) / 2


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=2000, help="optimiser steps")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--samples", type=int, default=16, help="images in samples.png")
    parser.add_argument("--noise-steps", type=int, default=400, help="diffusion timesteps")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/attention-unet")
    args = parser.parse_args(argv)

    md.manual_seed(args.seed)
    transform = T.Compose([T.Resize(16), T.RandomHorizontalFlip(), T.ToTensor(), T.Normalize([0.5], [0.5])])
    loader = md.utils.data.DataLoader(DigitImages(transform), batch_size=args.batch_size, shuffle=True, drop_last=True)
    model = AttentionUNet()
    print(f"AttentionUNet: {sum(p.numel() for p in model.parameters()):,} parameters")
    optimizer = md.optim.AdamW(model.parameters(), lr=args.lr)
    mse = nn.MSELoss()
    diffusion = Diffusion(noise_steps=args.noise_steps)

    step, losses = 0, []
    while step < args.steps:
        for images in loader:
            t = diffusion.sample_timesteps(images.shape[0])
            x_t, noise = diffusion.noise_images(images, t)
            loss = mse(noise, model(x_t, t))
            optimizer.zero_grad()
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
    images = diffusion.sample(model, args.samples)
    md.utils.save_image(images, os.path.join(args.out, "samples.png"), nrow=4)
    print(f"wrote {args.out}/samples.png and {args.out}/model.pt")
    return losses


if __name__ == "__main__":
    main()
