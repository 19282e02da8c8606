"""Noise control: muting (inhibition, time intervals, silences), storms and flapping."""
