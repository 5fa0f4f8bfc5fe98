"""CLI sub-commands, one module each, discovered by ``smartcity.cli`` (each exposes ``register``)."""
