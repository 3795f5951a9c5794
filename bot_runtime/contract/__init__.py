"""The bot's configuration contract: what the operator renders and the bot reads.

Imports only pydantic, the standard library and the venue's constants, so the operator can
depend on it without pulling in the bot.
"""
