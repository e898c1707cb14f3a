"""mfscan.assist."""
