"""The `alliance` command line: one entry point, subcommands from every component."""
