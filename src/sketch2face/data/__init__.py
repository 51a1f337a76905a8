"""Reading, preparing and augmenting sketch/photo data."""
