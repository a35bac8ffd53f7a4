"""The small UNet2DModel config the training, checkpoint, pipeline and fault tests share: the
digits U-Net's layout at a quarter of its widths, so a training step takes milliseconds."""

TINY = dict(
    sample_size=8,
    in_channels=1,
    out_channels=1,
    block_out_channels=(8, 16),
    layers_per_block=1,
    down_block_types=("DownBlock2D", "AttnDownBlock2D"),
    up_block_types=("AttnUpBlock2D", "UpBlock2D"),
    norm_num_groups=4,
)
