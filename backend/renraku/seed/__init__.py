"""Loading the demo world and generating synthetic data."""
