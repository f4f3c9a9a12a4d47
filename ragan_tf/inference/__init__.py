"""Using a trained generator: photo I/O, face alignment, paste-back, the Ager API."""
