"""mfscan.stats."""
