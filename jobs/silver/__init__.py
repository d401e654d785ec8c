"""Silver: typed, deduplicated, pseudonymised events and the lifecycle facts and dimensions built from them."""
