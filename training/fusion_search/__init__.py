"""Finding fusion weights on the validation split."""
