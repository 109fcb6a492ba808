"""The edges and the runtime: chat adapters, the SMS gateway, the web server, the CLI, the scheduler."""
