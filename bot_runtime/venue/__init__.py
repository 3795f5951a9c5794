"""Venue adapters: everything the bot knows about an exchange's wire lives under here."""
