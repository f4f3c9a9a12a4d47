"""Measuring face aging: age estimators, ground-truth comparisons, image metrics."""
