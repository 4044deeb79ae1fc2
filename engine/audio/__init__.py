"""Audio files in and out: validation, channel mapping, resampling, atomic stem writing."""
