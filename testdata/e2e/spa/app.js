spa asset
