"""Running experiments: distribution strategies, callbacks and the `train` entry point."""
