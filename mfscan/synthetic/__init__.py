"""mfscan.synthetic."""
