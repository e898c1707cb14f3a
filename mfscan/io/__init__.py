"""mfscan.io."""
