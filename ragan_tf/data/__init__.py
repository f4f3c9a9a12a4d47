"""Datasets: readers that all yield one example format, and the tf.data pipeline."""
