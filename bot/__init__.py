"""Duban (督办): the campaign bot's framework-free core."""
