"""The rule catalogue and its configuration (TOML), mutes and the promotion calendar."""
