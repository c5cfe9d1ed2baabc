"""contimg service layer."""
