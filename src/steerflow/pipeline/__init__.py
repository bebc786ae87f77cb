"""The OpenFlow pipeline of br-int as data (tables, registers, cookies), and the check of flows against it."""
