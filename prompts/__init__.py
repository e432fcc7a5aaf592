"""Prompt text files (system and task prompts), shipped inside the package as `bot.prompts`."""
