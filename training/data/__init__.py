"""Training data: the MUSDB18-HQ folder layout read with soundfile, random remixing, augmentation."""
