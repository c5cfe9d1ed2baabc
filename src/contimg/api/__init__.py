"""contimg api layer."""
