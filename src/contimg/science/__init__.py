"""contimg science layer."""
