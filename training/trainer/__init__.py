"""Training loop: Adam, the authors' schedules, accumulation, AMP on GPU, exact resume, DDP."""
