"""The demo province: a deterministic generator on real geography, and its bulk loader."""
