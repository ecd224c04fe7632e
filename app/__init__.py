"""Drumbeat: the internal newsletter an IT department uses to do good and report on it."""
