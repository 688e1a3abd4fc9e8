"""Ground-truth labels: saving them, the labeling queue, label CSV files in and out."""
