"""The OpenFlow pipeline of br-int, declared as data: tables, registers and cookies."""
