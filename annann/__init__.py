"""annann: learned and graph-based approximate nearest neighbour search."""

__version__ = "0.1.0"
