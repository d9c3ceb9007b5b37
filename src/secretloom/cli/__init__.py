"""The `secretloom` command line (typer). Each module registers one command group."""
