"""contimg cli layer."""
