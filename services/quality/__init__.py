"""Model quality from labelled feedback: confusion-matrix metrics, curves, version comparison."""
