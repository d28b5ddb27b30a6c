"""Input and output: audio files, manifests and listeners."""
