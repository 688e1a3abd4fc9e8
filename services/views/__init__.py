"""What the overview and Serving pages draw, assembled from the store and Prometheus."""
