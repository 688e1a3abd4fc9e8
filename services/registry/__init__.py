"""Models and their versions: registration, artifacts, feature schemas, loading and scoring a
version, and shadow scoring."""
