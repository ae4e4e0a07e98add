"""GPU profiles (TOML data); the file names are the valid --gpu values."""
