"""Models arrive with the Sync engine issue."""
