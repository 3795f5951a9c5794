"""botfleet's developer tools, outside the bot: the simulated exchange (`botfleet sim`), the demo,
the local control plane (`botfleet dev`), market-data record/backtest and the repository's
generators. They may import the bot and the operator; neither imports them, and the image does
not ship them (`botfleet --help` hides a command whose package is absent)."""
