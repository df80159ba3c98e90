"""The scaigrid command line, run as a subprocess."""
