"""Southbound: the edges to the switch (OpenFlow channel, OVSDB)."""
