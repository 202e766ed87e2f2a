"""ApertureDB storage for Label Studio, in the shape of Label Studio's own ``io_storages/s3``."""
