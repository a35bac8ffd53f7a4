"""The benchmark model configs (diffusers UNet2DModel fields), shared by the benchmark scripts."""

FMNIST = dict(
    sample_size=28,
    in_channels=1,
    out_channels=1,
    block_out_channels=(64, 128, 128),
    layers_per_block=2,
    down_block_types=("DownBlock2D", "DownBlock2D", "AttnDownBlock2D"),
    up_block_types=("AttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
)

DIGITS = dict(
    sample_size=8,
    in_channels=1,
    out_channels=1,
    block_out_channels=(32, 64),
    layers_per_block=1,
    down_block_types=("DownBlock2D", "AttnDownBlock2D"),
    up_block_types=("AttnUpBlock2D", "UpBlock2D"),
    norm_num_groups=8,
)

CONFIGS = {"fmnist": FMNIST, "digits": DIGITS}
